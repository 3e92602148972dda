package cli

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/leadergate/leadergate/internal/clock"
)

// TestQuickPathReadsSettingsAsKongDoes guards the quick path: for every
// environment, the settings it builds without kong must be the ones kong
// builds, defaults included, or it must step aside.
func TestQuickPathReadsSettingsAsKongDoes(t *testing.T) {
	envs := []map[string]string{
		{},
		{"LEADERGATE_STATE_DIR": "/tmp/x", "LEADERGATE_MAX_AGE": "0s", "LEADERGATE_MARKER": ""},
		{"LEADERGATE_GROUP_TAG": "aws:autoscaling:groupName", "LEADERGATE_GROUP": "asg-1", "LEADERGATE_TIMEOUT": "3s"},
		{"LEADERGATE_GROUP_TAG": "a,b", "LEADERGATE_STALE_OK": "5m", "LEADERGATE_NO_TAG": "true", "LEADERGATE_VERBOSE": "1"},
		{"LEADERGATE_ASSUME": "follower", "LEADERGATE_FOLLOWER_EXIT": "3", "LEADERGATE_NO_OVERLAP": "true", "LEADERGATE_MAX_RUNTIME": "1m", "LEADERGATE_GRACE": "2s", "LEADERGATE_LOCK_NAME": "billing"},
		{"LEADERGATE_DRY_RUN": "false", "LEADERGATE_MARKER": "/var/app/leader/x"},
	}
	for _, env := range envs {
		for k, v := range env {
			t.Setenv(k, v)
		}
		var cli CLI
		parser, err := kong.New(&cli, kong.Vars{"marker": legacyMarker}, kong.Exit(func(int) { t.Fatal("kong exited") }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.Parse([]string{"run", "--", "true"}); err != nil {
			t.Fatalf("env %v: kong: %v", env, err)
		}
		var g Globals
		var r runCmd
		if !fromEnv(&g) || !fromEnv(&r) {
			t.Fatalf("env %v: the quick path refused settings kong accepts", env)
		}
		r.Command = cli.Run.Command
		if !reflect.DeepEqual(g, cli.Globals) {
			t.Errorf("env %v:\n quick %+v\n kong  %+v", env, g, cli.Globals)
		}
		if !reflect.DeepEqual(r, cli.Run) {
			t.Errorf("env %v:\n quick %+v\n kong  %+v", env, r, cli.Run)
		}
		for k := range env {
			os.Unsetenv(k)
		}
	}
}

func TestQuickPathStepsAsideForWhatItCannotRead(t *testing.T) {
	for k, v := range map[string]string{
		"LEADERGATE_MAX_AGE":       "soon",
		"LEADERGATE_ASSUME":        "maybe",
		"LEADERGATE_FOLLOWER_EXIT": "x",
		"LEADERGATE_NO_TAG":        "perhaps",
	} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			var g Globals
			var r runCmd
			if fromEnv(&g) && fromEnv(&r) {
				t.Errorf("%s=%s accepted by the quick path; kong would refuse it with a message", k, v)
			}
		})
	}
	// Flags, and commands other than check and run --, take the full path.
	for _, args := range [][]string{{"check", "-v"}, {"run", "--assume", "leader", "--", "true"}, {"status"}, {"run", "true"}} {
		if _, ok := quick(args, &Deps{Clock: clock.Real{}}); ok {
			t.Errorf("quick(%q) took the quick path", args)
		}
	}
}

// jobVariables are the variables leadergate gives the commands it runs
// (docs/operations.md): a nested leadergate must never read them back as
// configuration (a job's LEADERGATE_JOB made a nested run --job claim the
// scheduler's own tick, find it taken and run nothing; history in a job
// filtered to that job).
var jobVariables = []string{"LEADERGATE_JOB", "LEADERGATE_SCHEDULED_AT", "LEADERGATE_RUN_ID", "LEADERGATE_FENCE",
	"LEADERGATE_EXIT_CODE", "LEADERGATE_OUTPUT_TAIL", "LEADERGATE_OUTPUT_FILE", "LEADERGATE_OUTCOME", "LEADERGATE_ATTEMPT"}

// TestEveryFlagHasItsVariable: every flag of every command can be set from
// the environment as LEADERGATE_<FLAG>, as the README promises, except
// where that variable is one leadergate gives its jobs: those flags have
// none.
func TestEveryFlagHasItsVariable(t *testing.T) {
	var cli CLI
	parser, err := kong.New(&cli, kong.Vars{"marker": legacyMarker})
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if f.Name == "help" {
				continue
			}
			want := "LEADERGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			if slices.Contains(jobVariables, want) {
				if len(f.Envs) > 0 {
					t.Errorf("%s --%s reads %v, which leadergate exports to jobs: a nested leadergate would take the job's value as its own", n.Path(), f.Name, f.Envs)
				}
				continue
			}
			if !slices.Equal(f.Envs, []string{want}) {
				t.Errorf("%s --%s: environment variables %v, want [%s]", n.Path(), f.Name, f.Envs, want)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)
}
