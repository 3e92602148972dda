// Package deploy holds no code: its tests check what leadergate ships for
// Elastic Beanstalk (.ebextensions/, deploy/install.sh) and the release
// build (make dist) the way an operator would meet them: the configs parse,
// their shell passes shellcheck, the install script leaves the expected
// files on a scratch root, and the release binaries are static and checked.
//
// deploy/install.sh is the source of truth for the install script that
// .ebextensions/*.config embed; after changing it, run
//
//	go test ./deploy/ -run TestConfigsEmbedInstallScript -update-ebextensions
package deploy
