package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/clock"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
)

func TestMain(m *testing.M) {
	// The test binary doubles as the leadergate command: scripts and tests
	// run it as a separate process, exactly as users do.
	testscript.Main(m, map[string]func(){"leadergate": func() {
		os.Exit(Main(os.Args[1:], &Deps{Stdout: os.Stdout, Stderr: os.Stderr, Clock: clock.Real{}}))
	}})
}

// fixture is what each script gets: an EC2 emulator with one group of three
// instances (and one of another group), and an IMDS per instance of the group.
type fixture struct {
	ec2       *awsfake.EC2
	instances []awsfake.Instance // oldest first
	imds      []*awsfake.IMDS
}

type fixtureKey struct{}

func setupFixture(env *testscript.Env) error {
	f := &fixture{ec2: awsfake.NewEC2(awsfake.WithSeed(7))}
	env.Defer(f.ec2.Close)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	f.ec2.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-other"}, LaunchTime: base.Add(-time.Hour)})
	for i := range 3 {
		in := f.ec2.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-main"}, LaunchTime: base.Add(time.Duration(i) * time.Minute)})
		m := awsfake.NewIMDS(in.ID, f.ec2.Region(), awsfake.WithInstance(in))
		env.Defer(m.Close)
		f.instances = append(f.instances, in)
		f.imds = append(f.imds, m)
	}
	env.Values[fixtureKey{}] = f
	work := env.WorkDir
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_EC2":              f.ec2.URL(),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": f.imds[0].URL(),
		"IMDS_LEADER":                       f.imds[0].URL(),
		"IMDS_FOLLOWER":                     f.imds[1].URL(),
		"LEADER_ID":                         f.instances[0].ID,
		"FOLLOWER_ID":                       f.instances[1].ID,
		"AWS_ACCESS_KEY_ID":                 "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":             "test-secret",
		"AWS_CONFIG_FILE":                   work + "/no-aws-config",
		"AWS_SHARED_CREDENTIALS_FILE":       work + "/no-aws-credentials",
		"LEADERGATE_STATE_DIR":              work + "/state",
		"LEADERGATE_MARKER":                 work + "/leader-manager-is-leader",
	} {
		env.Setenv(k, v)
	}
	return nil
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: setupFixture,
		// [metrics]: the test binary was built with -tags metrics.
		Condition: func(cond string) (bool, error) {
			if cond == "metrics" {
				return withMetrics, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"code":      cmdCode,
			"fault":     cmdFault,
			"calls":     cmdCalls,
			"terminate": cmdTerminate,
			"tag":       cmdTag,
		},
	})
}

// code [-within D] N command args... runs a command and asserts its exact
// exit code (testscript's ! only says "non-zero"), and with -within that it
// ended in time: a bound on a timeout, not a benchmark.
func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: code [-within D] N command args...")
	}
	var within time.Duration
	if len(args) > 2 && args[0] == "-within" {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		within, args = d, args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf("usage: code [-within D] N command args...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	start := time.Now()
	err = ts.Exec(args[1], args[2:]...)
	took := time.Since(start)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", strings.Join(args[1:], " "), got, want)
	}
	if within > 0 && took > within {
		ts.Fatalf("%s took %s, want at most %s", strings.Join(args[1:], " "), took.Round(time.Millisecond), within)
	}
}

// fault ec2|imds throttle|500|hang|denied|clear [ACTION] injects a fault into
// the EC2 emulator (into its ACTION only, when given) or into the IMDS of
// every instance.
func cmdFault(ts *testscript.TestScript, neg bool, args []string) {
	f := ts.Value(fixtureKey{}).(*fixture)
	if len(args) != 2 && len(args) != 3 {
		ts.Fatalf("usage: fault ec2|imds throttle|500|hang|denied|clear [ACTION]")
	}
	action := ""
	if len(args) == 3 {
		action = args[2]
	}
	kinds := map[string]awsfake.FaultKind{"throttle": awsfake.Throttle, "500": awsfake.InternalError, "hang": awsfake.Hang, "denied": awsfake.Unauthorized}
	kind, ok := kinds[args[1]]
	if !ok && args[1] != "clear" {
		ts.Fatalf("unknown fault %q", args[1])
	}
	switch args[0] {
	case "ec2":
		f.ec2.ClearFaults()
		if ok {
			f.ec2.Inject(awsfake.Fault{Kind: kind, Action: action})
		}
	case "imds":
		for _, m := range f.imds {
			m.ClearFaults()
			if ok {
				m.Inject(awsfake.Fault{Kind: kind})
			}
		}
	default:
		ts.Fatalf("fault: unknown target %q", args[0])
	}
}

// calls ACTION N asserts the EC2 calls of ACTION since the last reset;
// calls reset starts counting again.
func cmdCalls(ts *testscript.TestScript, neg bool, args []string) {
	f := ts.Value(fixtureKey{}).(*fixture)
	if len(args) == 1 && args[0] == "reset" {
		f.ec2.ResetCalls()
		return
	}
	if len(args) != 2 {
		ts.Fatalf("usage: calls reset | calls ACTION N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	if got := f.ec2.FirstCalls(args[0]); got != want {
		ts.Fatalf("%d %s calls, want %d (log: %+v)", got, args[0], want, f.ec2.CallLog())
	}
}

// terminate leader|follower terminates that instance.
func cmdTerminate(ts *testscript.TestScript, neg bool, args []string) {
	f := ts.Value(fixtureKey{}).(*fixture)
	i := map[string]int{"leader": 0, "follower": 1}[args[0]]
	ts.Check(f.ec2.Terminate(f.instances[i].ID))
}

// tag leader|follower VALUE asserts that instance's leader tag ("-" for none).
func cmdTag(ts *testscript.TestScript, neg bool, args []string) {
	f := ts.Value(fixtureKey{}).(*fixture)
	if len(args) != 2 {
		ts.Fatalf("usage: tag leader|follower VALUE")
	}
	i := map[string]int{"leader": 0, "follower": 1}[args[0]]
	got := f.ec2.Tags(f.instances[i].ID)[elect.LeaderTag]
	if got == "" {
		got = "-"
	}
	if got != args[1] {
		ts.Fatalf("%s tag %s=%s, want %s", args[0], elect.LeaderTag, got, args[1])
	}
}

// The version line names the commit once: not again when git describe
// already gave it as the version.
func TestVersionLineNamesTheCommitOnce(t *testing.T) {
	for _, tc := range []struct {
		version, commit string
		metrics         bool
		want, wantEnd   string
	}{
		{"v1.2.3", "abc1234", false, "leadergate v1.2.3 (commit abc1234, ", ", no metrics)"},
		{"abc1234", "abc1234", true, "leadergate abc1234 (go", ", metrics)"},
		{"v1.2.3-4-gabc1234-dirty", "abc1234", true, "leadergate v1.2.3-4-gabc1234-dirty (go", ", metrics)"},
	} {
		got := versionLine(tc.version, tc.commit, tc.metrics)
		if !strings.HasPrefix(got, tc.want) || !strings.HasSuffix(got, tc.wantEnd) || strings.Count(got, tc.commit) != 1 {
			t.Errorf("versionLine(%q, %q, %v) = %q, want it to start %q, end %q and name %s once", tc.version, tc.commit, tc.metrics, got, tc.want, tc.wantEnd, tc.commit)
		}
	}
}
