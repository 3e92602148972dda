package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leadergate/leadergate/internal/ebsim"
)

// newEBEnv is an Elastic Beanstalk environment in the deployment
// simulator, running the release binary and this repository's
// .ebextensions; jobs append to the returned runs file.
func newEBEnv(t *testing.T, props map[string]string) (*ebsim.Env, string) {
	t.Helper()
	bin := buildHostBinary(t, "")
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(t.TempDir(), "runs.log")
	all := map[string]string{"RUNS": runs}
	for k, v := range props {
		all[k] = v
	}
	return ebsim.New(t, ebsim.Options{Binary: bin, Repo: repo, Properties: all}), runs
}

// reportApp is an application version whose job, every two seconds,
// appends "VERSION INSTANCE TICK" to $RUNS from ./bin/report.
func reportApp(env *ebsim.Env, version string, extra map[string]string) ebsim.Bundle {
	files := map[string]string{
		"leader-jobs.cron": "# leader-jobs.cron\n# name: report\n@every 2s ./bin/report\n",
		"bin/report":       "#!/bin/sh\necho \"" + version + " $EBSIM_INSTANCE_ID $LEADERGATE_SCHEDULED_AT\" >>\"$RUNS\"\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	return env.Bundle(version, files)
}

// runLines returns the lines of the runs file.
func runLines(t *testing.T, runs string) []string {
	t.Helper()
	b, err := os.ReadFile(runs)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestEBFirstDeploy(t *testing.T) {
	env, runs := newEBEnv(t, nil)
	ins, err := env.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Deploy(reportApp(env, "v1", nil)); err != nil {
		t.Fatal(err)
	}
	in := ins[0]
	t.Logf("steps: %q", in.Steps())
	in.WaitLog(t, `job finished.*job=report`, 1)
	if u := in.Unit("leadergate.service"); u.State() != "active" || u.Starts() != 1 || !u.Enabled() {
		t.Errorf("leadergate.service: %s, %d starts, enabled %v; want active, started once, enabled", u.State(), u.Starts(), u.Enabled())
	}
	lines := runLines(t, runs)
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "v1 "+in.ID+" ") {
		t.Errorf("runs: %q", lines)
	}
	if !slices.Contains(in.Steps(), "swap") {
		t.Errorf("steps %q", in.Steps())
	}
}

// deployOK deploys b to the whole environment or fails the test.
func deployOK(t *testing.T, env *ebsim.Env, b ebsim.Bundle) {
	t.Helper()
	if err := env.Deploy(b); err != nil {
		t.Fatal(err)
	}
}

// runsOf returns the runs file's lines that start with prefix.
func runsOf(t *testing.T, runs, prefix string) []string {
	t.Helper()
	var out []string
	for _, l := range runLines(t, runs) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// A code-only deploy (same binary, same crontab, new application code)
// only reloads the scheduler; Elastic Beanstalk has replaced
// /var/app/current meanwhile, and the next runs are the new code's, with
// no failed run in between. Before jobs started in their directory by
// path, every run after this deploy failed in the deleted old directory.
func TestEBCodeOnlyDeploy(t *testing.T) {
	env, runs := newEBEnv(t, nil)
	ins, err := env.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	in := ins[0]
	deployOK(t, env, reportApp(env, "v1", nil))
	in.WaitLog(t, `job finished.*job=report`, 1)

	deployOK(t, env, reportApp(env, "v2", nil))
	// Every run ends "job finished" or "job failed": wait for two after
	// the deploy, whichever they are.
	ended := `msg="job (finished|failed)".*job=report`
	in.WaitLog(t, ended, len(in.WaitLog(t, ended, 1))+2)
	if failed := slices.DeleteFunc(in.Log("leadergate.log"), func(l string) bool { return !strings.Contains(l, `msg="job failed"`) }); len(failed) > 0 {
		t.Fatalf("runs failed after the code-only deploy:\n%s", strings.Join(failed, "\n"))
	}
	if got := runsOf(t, runs, "v2 "); len(got) == 0 {
		t.Fatalf("no run of the new code after the deploy; runs:\n%s", strings.Join(runLines(t, runs), "\n"))
	}
	// The last run of v1 comes before the first of v2: the swap is one step.
	lines := runLines(t, runs)
	first := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "v2 ") })
	if slices.ContainsFunc(lines[first:], func(l string) bool { return strings.HasPrefix(l, "v1 ") }) {
		t.Errorf("the old code ran after the new one:\n%s", strings.Join(lines, "\n"))
	}
	if u := in.Unit("leadergate.service"); u.Starts() != 1 || u.State() != "active" {
		t.Errorf("leadergate.service: %d starts, %s; a code-only deploy reloads (SIGHUP), want 1 start, active", u.Starts(), u.State())
	}
}

// A configuration deployment that changes nothing the scheduler was
// started from (here: an unrelated option) reloads it: runs go on, the
// installed binary and crontab are kept.
func TestEBConfigurationOnlyDeploy(t *testing.T) {
	env, runs := newEBEnv(t, nil)
	ins, err := env.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	in := ins[0]
	deployOK(t, env, reportApp(env, "v1", nil))
	n := len(in.WaitLog(t, `job finished.*job=report`, 1))
	if err := in.ConfigDeploy(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(in.Steps(), "hook postdeploy/99_leadergate.sh") || !slices.ContainsFunc(in.Steps(), func(s string) bool { return strings.HasPrefix(s, "deploy v1 (confighooks)") }) {
		t.Errorf("steps %q: want a configuration deployment running the confighooks", in.Steps())
	}
	in.WaitLog(t, `job finished.*job=report`, n+2)
	if u := in.Unit("leadergate.service"); u.Starts() != 1 || u.State() != "active" {
		t.Errorf("leadergate.service: %d starts, %s; want 1 start (a reload), active", u.Starts(), u.State())
	}
	if _, err := os.Stat(in.Root + "/etc/leadergate/leader-jobs.cron"); err != nil {
		t.Errorf("the crontab is gone after a configuration deployment: %v", err)
	}
	if len(runsOf(t, runs, "v1 ")) < n+2 {
		t.Errorf("runs: %q", runLines(t, runs))
	}
}

// An environment property change is a configuration deployment with a new
// environment file: the scheduler restarts and the jobs see the new value.
func TestEBEnvironmentPropertyChange(t *testing.T) {
	env, runs := newEBEnv(t, map[string]string{"GREETING": "hello"})
	ins, err := env.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	in := ins[0]
	app := reportApp(env, "v1", map[string]string{
		"bin/report": "#!/bin/sh\necho \"v1 $EBSIM_INSTANCE_ID $LEADERGATE_SCHEDULED_AT $GREETING\" >>\"$RUNS\"\n",
	})
	deployOK(t, env, app)
	in.WaitLog(t, `job finished.*job=report`, 1)
	if err := env.SetProperties(map[string]string{"GREETING": "bonjour"}); err != nil {
		t.Fatal(err)
	}
	if u := in.Unit("leadergate.service"); u.Starts() != 2 {
		t.Errorf("leadergate.service started %d times; a new environment file restarts it (want 2)", u.Starts())
	}
	n := len(in.WaitLog(t, `job finished.*job=report`, 1))
	in.WaitLog(t, `job finished.*job=report`, n+1)
	lines := runLines(t, runs)
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, " bonjour") {
		t.Errorf("the job still sees the old property value: %q", last)
	}
}

// A new leadergate binary restarts the scheduler (the postdeploy hook
// compares checksums): the new binary runs, the jobs go on.
func TestEBBinaryUpgrade(t *testing.T) {
	env, runs := newEBEnv(t, nil)
	ins, err := env.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	in := ins[0]
	deployOK(t, env, reportApp(env, "v1", nil))
	in.WaitLog(t, `job finished.*job=report`, 1)
	oldPID := in.Unit("leadergate.service").PID()

	// Another build: trailing bytes change its checksum, not its code.
	bin, err := os.ReadFile(buildHostBinary(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	upgraded := append(slices.Clone(bin), []byte("\x00ebsim: another build\n")...)
	v2 := reportApp(env, "v2", map[string]string{".leadergate/leadergate-linux-" + runtimeArch(): string(upgraded)})
	deployOK(t, env, v2)
	u := in.Unit("leadergate.service")
	if u.Starts() != 2 || u.State() != "active" || u.PID() == oldPID {
		t.Errorf("leadergate.service: %d starts, %s, pid %d (was %d); a new binary restarts it", u.Starts(), u.State(), u.PID(), oldPID)
	}
	if got, _ := os.ReadFile(in.Root + "/usr/local/bin/leadergate"); string(got) != string(upgraded) {
		t.Error("/usr/local/bin/leadergate is not the new binary")
	}
	if exe, err := os.Readlink("/proc/" + itoa(u.PID()) + "/exe"); err != nil || exe != in.Root+"/usr/local/bin/leadergate" {
		t.Errorf("the scheduler runs %q (%v), want the installed binary", exe, err)
	}
	n := len(in.WaitLog(t, `job finished.*job=report`, 1))
	in.WaitLog(t, `job finished.*job=report`, n+1)
	if len(runsOf(t, runs, "v2 ")) == 0 {
		t.Errorf("no run after the upgrade: %q", runLines(t, runs))
	}
}
