package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leadergate/leadergate/internal/ebsim"
)

// onceApp is an application version whose predeploy hook migrates with
// `leadergate once` (the key: the version label Elastic Beanstalk
// deploys), the migration appending "INSTANCE KEY FENCE" to $ONCE_RUNS,
// on the ledger the environment's own stack makes (.ebextensions/
// leadergate-ledger.config).
func onceApp(t *testing.T, env *ebsim.Env, version string) ebsim.Bundle {
	t.Helper()
	return reportApp(env, version, map[string]string{
		".platform/hooks/predeploy/10_migrate.sh": `#!/bin/sh
set -e
# The simulator keeps the platform's files under $LEADERGATE_ROOT.
export LEADERGATE_MANIFEST="$LEADERGATE_ROOT/opt/elasticbeanstalk/deployment/app_version_manifest.json"
exec "$LEADERGATE_ROOT/usr/local/bin/leadergate" once --lease 20s --takeover-after 1s --max-age 0s -- \
    sh -c 'echo "$EBSIM_INSTANCE_ID $LEADERGATE_JOB $LEADERGATE_FENCE" >>"$ONCE_RUNS"; sleep 1'
`,
	})
}

// TestEBOnceInPredeployRunsOncePerVersion: a migration in a predeploy hook
// runs once per application version, on one instance, in a rolling deploy
// in batches (the first batch runs it, the second finds it done) and in an
// immutable deploy (on one of the new instances), and a scale-out later
// runs nothing.
func TestEBOnceInPredeployRunsOncePerVersion(t *testing.T) {
	onceRuns := filepath.Join(t.TempDir(), "once.log")
	env, _ := newEBEnv(t, map[string]string{"ONCE_RUNS": onceRuns})
	if _, err := env.Launch(4); err != nil {
		t.Fatal(err)
	}
	runsOf := func(version string) []string {
		b, _ := os.ReadFile(onceRuns)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[1] == version {
				out = append(out, l)
			}
		}
		return out
	}

	// All at once: the first deploy.
	if err := env.Deploy(onceApp(t, env, "v1")); err != nil {
		t.Fatal(err)
	}
	if r := runsOf("v1"); len(r) != 1 {
		t.Fatalf("v1 migrated %d times: %q", len(r), r)
	}

	// Rolling, two batches of two: the first batch migrates before any
	// instance of it goes live, the second finds it done.
	var afterFirst []string
	err := env.Rolling(onceApp(t, env, "v2"), 2, func(done []*ebsim.Instance) {
		afterFirst = runsOf("v2")
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := runsOf("v2"); len(r) != 1 || len(afterFirst) != 1 {
		t.Fatalf("v2 migrated %d times (%d after the first batch): %q", len(r), len(afterFirst), r)
	}

	// Immutable: four new instances, one of them migrates.
	old := env.Instances()
	var fresh []*ebsim.Instance
	if err := env.Immutable(onceApp(t, env, "v3"), func(_, n []*ebsim.Instance) { fresh = n }); err != nil {
		t.Fatal(err)
	}
	r := runsOf("v3")
	if len(r) != 1 {
		t.Fatalf("v3 migrated %d times: %q", len(r), r)
	}
	ran := strings.Fields(r[0])[0]
	if slices.ContainsFunc(old, func(in *ebsim.Instance) bool { return in.ID == ran }) ||
		!slices.ContainsFunc(fresh, func(in *ebsim.Instance) bool { return in.ID == ran }) {
		t.Errorf("v3 migrated on %s, not on one of the immutable deploy's new instances", ran)
	}

	// A scale-out deploys v3 on a new instance: nothing migrates again.
	if _, err := env.Launch(1); err != nil {
		t.Fatal(err)
	}
	if r := runsOf("v3"); len(r) != 1 {
		t.Errorf("a scale-out migrated v3 again: %q", r)
	}
}
