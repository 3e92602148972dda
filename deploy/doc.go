// Package deploy holds no code: its tests check what leadergate ships for
// Elastic Beanstalk (.ebextensions/, deploy/install.sh) and the release
// build (make dist) the way an operator would meet them: the configs parse,
// their shell passes shellcheck, the install script leaves the expected
// files on a scratch root, the release binaries are static and checked,
// and whole Elastic Beanstalk deployments (first, code-only,
// configuration, property change, binary upgrade, rolling, immutable)
// behave, replayed by the deployment simulator (internal/ebsim) with the
// real binary, configs, install script and hooks (ebsim_test.go).
//
// make dist runs once per package run, for this machine's architecture;
// LEADERGATE_DIST_MATRIX=1 builds and checks every release architecture.
//
// deploy/install.sh is the source of truth for the install script that
// .ebextensions/*.config embed; after changing it, run
//
//	go test ./deploy/ -run TestConfigsEmbedInstallScript -update-ebextensions
package deploy
