// Package ebsim replays what Elastic Beanstalk does to the instances of an
// environment when it deploys, for tests: the real leadergate binary, the
// real .ebextensions, install script and platform hooks, on simulated
// instances. Only _test.go files import it; the release binary never
// links it (layout_test.go guards this).
//
// # What it simulates
//
// An [Env] is one environment: an EC2 emulator (package awsfake) whose
// instances carry the environment id tag, a DynamoDB (moto_server, started
// when a bundle's .ebextensions declare an AWS::DynamoDB::Table) for the
// environment's CloudFormation resources, and the environment properties.
// Each [Instance] has its own scratch root, a temporary directory standing
// for / (var/app/staging, var/app/current, etc/systemd/system, ...), its
// own IMDS, and a small service manager standing in for systemd.
//
// An application deployment on an instance ([Instance.Deploy]) follows the
// order of "Instance deployment workflow" in the Elastic Beanstalk
// developer guide, for Amazon Linux 2 and 2023:
//
//  1. the bundle is extracted to var/app/staging; the environment
//     properties are written to opt/elasticbeanstalk/deployment/env and the
//     version label to opt/elasticbeanstalk/deployment/app_version_manifest.json;
//     files: of every .ebextensions/*.config is written; commands: run (in /)
//  2. .platform/hooks/prebuild/* run in the staging directory
//  3. container_commands: run in the staging directory, as root, with the
//     environment properties in their environment (and their env:)
//  4. .platform/hooks/predeploy/* run in the staging directory
//  5. var/app/current is removed and var/app/staging moved into its place
//  6. .platform/hooks/postdeploy/* run in var/app/current
//
// A step that exits non-zero fails the deployment on that instance at
// once: the later steps do not run, so a failure before step 5 leaves the
// old version live. A configuration deployment ([Instance.ConfigDeploy],
// [Env.SetProperties]) stages a copy of the live application and runs the
// same steps with .platform/confighooks. Deploys of a whole environment:
// all at once ([Env.Deploy]), rolling in batches with old and new versions
// live together ([Env.Rolling]), immutable ([Env.Immutable]: new instances
// with the same environment id, then the old ones terminated).
//
// Absolute paths are taken inside the instance's root where the deployment
// writes or starts things: files:, the unit's ExecStart, WorkingDirectory,
// EnvironmentFile, StandardOutput=append: and path-valued Environment=
// settings. Commands and hooks get LEADERGATE_ROOT (which install.sh
// honours), LEADERGATE_USER (the user running the test),
// LEADERGATE_STATE_DIR and LEADERGATE_MARKER inside the root, the AWS
// endpoints of the emulators, EBSIM_INSTANCE_ID, and a PATH that finds the
// simulated systemctl and then the instance's usr/local/bin (so a hook's
// "leadergate" is the one install.sh installed). A command of
// container_commands or commands: whose first word is an absolute path
// that exists inside the root runs that file.
//
// # The service manager
//
// systemctl, for the commands and hooks, is a script that asks the
// instance's service manager over HTTP on 127.0.0.1. It knows start, stop,
// restart, reload, reload-or-restart, try-restart, is-active, is-failed,
// enable, disable, daemon-reload and reset-failed, and --version
// ([Options.Systemd]: 252 as on Amazon Linux 2023, or 219 as on Amazon
// Linux 2, where install.sh writes the unit for --log-file). It reads the unit file
// at each start, as systemd does after daemon-reload; Type=notify waits
// for READY=1 (a process that exits first fails the start, and systemctl
// exits 1); Restart=always restarts an exited process after RestartSec
// (shortened to 100 ms) unless its exit status is listed in
// RestartPreventExitStatus=, and the unit is then "failed"; stop sends
// SIGTERM to the main process, and SIGKILL to its process group after
// TimeoutStopSec. It ignores User= (everything runs as the test's user)
// and the sandboxing settings (deploy's tests check those with
// systemd-analyze). [Unit.Starts] and [Unit.State] tell what happened.
//
// # What it does not simulate
//
// The web process, the proxy, Buildfile and Procfile, leader_only (EB's
// own leader exists only in some deploy types), the Docker and ECS
// platforms, user switching, and time: jobs run on the real clock.
//
// # Use
//
//	env := ebsim.New(t, ebsim.Options{Binary: bin, Repo: repoRoot})
//	v1 := env.Bundle("v1", map[string]string{"leader-jobs.cron": "...", "bin/report": "#!/bin/sh\n..."})
//	env.Launch(3)
//	if err := env.Deploy(v1); err != nil { ... }
//	env.Instances()[0].WaitLog(t, `job finished`, 1)
//
// A bundle is the repository's .ebextensions/*.config and the binary as
// .leadergate/leadergate-linux-<arch>, plus the given files (contents
// starting with "#!" are made executable); a file given with the name of a
// shipped config replaces it, one given as "" removes it.
package ebsim
