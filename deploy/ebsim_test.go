package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/ebsim"
)

// newEBEnv is an Elastic Beanstalk environment in the deployment
// simulator, running the release binary and this repository's
// .ebextensions; jobs append to the returned runs file.
func newEBEnv(t *testing.T, props map[string]string) (*ebsim.Env, string) {
	t.Helper()
	return newEBEnvOn(t, props, 0)
}

// newEBEnvOn is newEBEnv on a platform whose systemd has this version
// (0: Amazon Linux 2023's).
func newEBEnvOn(t *testing.T, props map[string]string, systemd int) (*ebsim.Env, string) {
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
	return ebsim.New(t, ebsim.Options{Binary: bin, Repo: repo, Properties: all, Systemd: systemd}), runs
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

// The first deployment of the shipped configuration, on Amazon Linux 2023
// (systemd 252) and Amazon Linux 2 (systemd 219, which ignores
// StandardOutput=append:, so the scheduler writes its log file itself).
func TestEBFirstDeploy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		platform string
		systemd  int
	}{{"Amazon Linux 2023", 252}, {"Amazon Linux 2", 219}} {
		t.Run(tc.platform, func(t *testing.T) {
			t.Parallel()
			env, runs := newEBEnvOn(t, nil, tc.systemd)
			ins, err := env.Launch(1)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.Deploy(reportApp(env, "v1", nil)); err != nil {
				t.Fatal(err)
			}
			in := ins[0]
			t.Logf("steps: %q", in.Steps())
			// The shipped configuration turns the ledger on, with the table
			// its CloudFormation resource made.
			_, table := env.DynamoDB("LeadergateLedger")
			if table == "" {
				t.Fatal("the shipped .ebextensions declare no LeadergateLedger table")
			}
			in.WaitLog(t, `msg="tick ledger on" table=`+table, 1)
			in.WaitLog(t, `job finished.*job=report`, 1)
			if u := in.Unit("leadergate.service"); u.State() != "active" || u.Starts() != 1 || !u.Enabled() {
				t.Errorf("leadergate.service: %s, %d starts, enabled %v; want active, started once, enabled", u.State(), u.Starts(), u.Enabled())
			}
			lines := runLines(t, runs)
			if len(lines) == 0 || !strings.HasPrefix(lines[0], "v1 "+in.ID+" ") {
				t.Errorf("runs: %q", lines)
			}
			want := []string{"deploy v1 (hooks)", "container_command 01_leadergate_install", "swap", "hook postdeploy/99_leadergate.sh"}
			if got := in.Steps(); !slices.Equal(got, want) {
				t.Errorf("steps %q, want %q", got, want)
			}
		})
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// A configuration error the scheduler would stop at (here a misspelt
// ledger table) fails the deployment before the swap: the old version
// keeps serving and running its jobs. And the unit does not restart
// forever on the 78 it exits with when started anyway.
func TestEBConfigurationErrorFailsTheDeploymentBeforeTheSwap(t *testing.T) {
	t.Parallel()
	env, runs := newEBEnv(t, nil)
	ins, err := env.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	in := ins[0]
	deployOK(t, env, reportApp(env, "v1", nil))
	n := len(in.WaitLog(t, `job finished.*job=report`, 1))

	err = env.SetProperties(map[string]string{"LEADERGATE_LEDGER": "leadergate-ledgr"})
	if err == nil || !strings.Contains(err.Error(), "leadergate-ledgr") || !strings.Contains(err.Error(), "the scheduler would not start") {
		t.Fatalf("a configuration deployment naming a missing table: %v; want it to fail, naming the table", err)
	}
	t.Logf("the failed configuration deployment says:\n%s", err)
	err = env.Deploy(reportApp(env, "v2", nil))
	if err == nil {
		t.Fatal("an application deployment with the missing table succeeded")
	}
	steps := in.Steps()
	if i := slices.Index(steps, "deploy v2 (hooks)"); i < 0 || slices.Contains(steps[i:], "swap") {
		t.Errorf("steps %q: the failed deployment went on to the swap", steps)
	}
	if b, _ := os.ReadFile(in.Root + ebsim.Current + "/bin/report"); !strings.Contains(string(b), "v1") {
		t.Errorf("/var/app/current is not v1 after the failed deployment: %s", b)
	}
	in.WaitLog(t, `job finished.*job=report`, n+1)
	if u := in.Unit("leadergate.service"); u.Starts() != 1 || u.State() != "active" {
		t.Errorf("leadergate.service: %d starts, %s; the failed deployments must leave it running", u.Starts(), u.State())
	}
	if len(runsOf(t, runs, "v2 ")) != 0 {
		t.Errorf("v2 ran: %q", runLines(t, runs))
	}

	// Started anyway (a reboot reads the environment file the failed
	// deployment wrote): exit 78, and the unit stays failed.
	out, err := in.Command("systemctl", "restart", "leadergate.service").CombinedOutput()
	if err == nil {
		t.Fatalf("systemctl restart with the missing table succeeded: %s", out)
	}
	u := in.Unit("leadergate.service")
	if exits := u.Exits(); u.State() != "failed" || u.Starts() != 2 || exits[len(exits)-1] != 78 {
		t.Errorf("leadergate.service: %s, %d starts, exits %v; want failed after one start that exited 78, no restart (RestartPreventExitStatus)", u.State(), u.Starts(), exits)
	}
	if log := in.Log("leadergate.log"); !strings.Contains(strings.Join(log, "\n"), "leadergate-ledgr") {
		t.Errorf("the log does not name the table:\n%s", strings.Join(log, "\n"))
	}
}

// fleetApp is an application version for the fleet scenarios: jobs
// append "VERSION INSTANCE JOB TICK" to $RUNS. lines are the crontab's job
// lines, after the header.
func fleetApp(env *ebsim.Env, version string, lines string, extra map[string]string) ebsim.Bundle {
	files := map[string]string{
		"leader-jobs.cron": "# leader-jobs.cron\nCRON_TZ=UTC\n" + lines,
		"bin/job":          "#!/bin/sh\necho \"" + version + " $EBSIM_INSTANCE_ID $LEADERGATE_JOB $LEADERGATE_SCHEDULED_AT\" >>\"$RUNS\"\n[ -z \"$2\" ] || sleep \"$2\"\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	return env.Bundle(version, files)
}

// exactlyOnce checks the runs file and the ledger: no (job, tick) ran
// twice; each job's ticks from its first record to its last all have a
// record (every is the job's period), exactly one, under the job's name;
// a tick that ran is recorded succeeded, or lost when a shutdown stopped
// it (its claim let go, the lease ended at once: the next instance to look
// records it lost, and without "# on-lost: rerun" nobody runs it again); a
// tick recorded but not run must be lost too (stopped before its first
// line). It returns the lost ticks.
func exactlyOnce(t *testing.T, env *ebsim.Env, runs string, every map[string]time.Duration) (stopped []string) {
	t.Helper()
	seen := map[string][]string{} // job@tick → "version instance"
	for _, l := range runLines(t, runs) {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("runs line %q", l)
		}
		key := f[2] + "@" + f[3]
		seen[key] = append(seen[key], f[0]+" "+f[1])
		if _, ok := every[f[2]]; !ok {
			t.Errorf("an unexpected job ran: %s", l)
		}
	}
	for k, v := range seen {
		if len(v) != 1 {
			t.Errorf("%s ran %d times: %q", k, len(v), v)
		}
	}
	items, err := env.Items("LeadergateLedger")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]int{}
	ticks := map[string][]time.Time{}
	for _, it := range items {
		if it["job"] == "" {
			continue // not a run (a control, a preflight's look)
		}
		if _, ok := every[it["job"]]; !ok {
			t.Errorf("the ledger has an item for job %q (pk %s): a job changed its key", it["job"], it["pk"])
			continue
		}
		tick, err := time.Parse(time.RFC3339, it["tick"])
		if err != nil {
			t.Errorf("item %v: %v", it, err)
			continue
		}
		key := it["job"] + "@" + tick.UTC().Format(time.RFC3339)
		recorded[key]++
		ticks[it["job"]] = append(ticks[it["job"]], tick)
		leaseEnded := false
		if ms, err := strconv.ParseInt(it["lease_until"], 10, 64); err == nil {
			leaseEnded = time.UnixMilli(ms).Before(time.Now())
		}
		lost := it["state"] == "lost" || (it["state"] == "running" && leaseEnded)
		switch {
		case lost:
			stopped = append(stopped, key)
		case len(seen[key]) == 0:
			t.Errorf("%s did not run but the ledger says %s (exit %s)", key, it["state"], it["exit_code"])
		case it["state"] != "succeeded":
			t.Errorf("%s ran but the ledger says %s (exit %s)", key, it["state"], it["exit_code"])
		}
	}
	for k := range seen {
		if recorded[k] != 1 {
			t.Errorf("%s ran; the ledger has %d items for it", k, recorded[k])
		}
	}
	for job, ts := range ticks {
		slices.SortFunc(ts, time.Time.Compare)
		for i := 1; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-1]); d != every[job] {
				t.Errorf("%s: no record between %s and %s (every %s): a tick nobody ran or recorded", job, ts[i-1].Format(time.TimeOnly), ts[i].Format(time.TimeOnly), every[job])
			}
		}
	}
	slices.Sort(stopped)
	t.Logf("%d runs of %d ticks, %d ledger items, lost (stopped by a shutdown): %q", len(runLines(t, runs)), len(seen), len(items), stopped)
	return stopped
}

// A rolling deploy across three instances, one at a time, with the ledger
// on: old and new crontabs are live together, the new one has the job on
// another line, and the new binary restarts each scheduler in turn (the
// leader's too). Every tick runs exactly once, under the same key.
func TestEBRollingDeployWithTheLedger(t *testing.T) {
	t.Parallel()
	env, runs := newEBEnv(t, map[string]string{"LEADERGATE_TAKEOVER_AFTER": "3s"})
	if _, err := env.Launch(3); err != nil {
		t.Fatal(err)
	}
	ins := env.Instances()
	deployOK(t, env, fleetApp(env, "v1", "# name: report\n@every 2s ./bin/job\n", nil))
	waitRuns(t, runs, "v1 ", 2)

	bin, err := os.ReadFile(buildHostBinary(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	upgraded := append(slices.Clone(bin), []byte("\x00ebsim: another build\n")...)
	v2 := fleetApp(env, "v2", "# The report moved down a line, a job came above it.\n# name: sweep\n@every 3s ./bin/job\n# name: report\n@every 2s ./bin/job\n",
		map[string]string{".leadergate/leadergate-linux-" + runtimeArch(): string(upgraded)})
	batches := 0
	err = env.Rolling(v2, 1, func(done []*ebsim.Instance) {
		batches++
		// Old and new live at once: both versions run before the next batch.
		n := len(runLines(t, runs))
		waitRuns(t, runs, "", n+2)
	})
	if err != nil {
		t.Fatal(err)
	}
	if batches != 2 {
		t.Errorf("%d pauses between batches, want 2 (3 instances, 1 per batch)", batches)
	}
	waitRuns(t, runs, "v2 ", 4)
	for _, in := range ins {
		if u := in.Unit("leadergate.service"); u.Starts() != 2 {
			t.Errorf("%s: leadergate.service started %d times, want 2 (the new binary restarts it)", in.ID, u.Starts())
		}
	}
	// Stop every scheduler before counting: nothing runs behind the count.
	for _, in := range env.Instances() {
		in.Terminate()
	}
	exactlyOnce(t, env, runs, map[string]time.Duration{"report": 2 * time.Second, "sweep": 3 * time.Second})
}

// An immutable deploy: new instances (same environment id) deploy the new
// version while the old ones run theirs, then the old ones are
// terminated, one in the middle of a run that finishes within its grace.
// Every tick exactly once, and the runs move to the new instances.
func TestEBImmutableDeployWithTheLedger(t *testing.T) {
	t.Parallel()
	env, runs := newEBEnv(t, map[string]string{"LEADERGATE_TAKEOVER_AFTER": "3s"})
	if _, err := env.Launch(2); err != nil {
		t.Fatal(err)
	}
	old := env.Instances()
	deployOK(t, env, fleetApp(env, "v1", "# name: report\n@every 2s ./bin/job report 1\n", nil))
	waitRuns(t, runs, "v1 ", 2)
	var leaver string
	err := env.Immutable(fleetApp(env, "v2", "\n# name: report\n@every 2s ./bin/job report 1\n", nil), func(old, fresh []*ebsim.Instance) {
		if len(fresh) != 2 {
			t.Errorf("%d new instances, want 2", len(fresh))
		}
		// Old and new instances are in the group together; the old
		// leader goes while a run (one second long) has just started.
		n := len(runsOf(t, runs, "v1 "))
		waitRuns(t, runs, "v1 ", n+1)
		leaver = runsOf(t, runs, "v1 ")[n]
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range old {
		if u := in.Unit("leadergate.service"); u.State() != "inactive" {
			t.Errorf("old instance %s: leadergate.service %s after termination", in.ID, u.State())
		}
	}
	n := len(runLines(t, runs))
	waitRuns(t, runs, "", n+3)
	last := runLines(t, runs)
	for _, l := range last[n:] {
		if slices.ContainsFunc(old, func(in *ebsim.Instance) bool { return strings.Contains(l, in.ID) }) {
			t.Errorf("a terminated instance ran after it left: %q", l)
		}
	}
	all := append(old, env.Instances()...)
	for _, in := range env.Instances() {
		in.Terminate()
	}
	stopped := exactlyOnce(t, env, runs, map[string]time.Duration{"report": 2 * time.Second})
	f := strings.Fields(leaver)
	if !slices.Contains(stopped, "report@"+f[3]) {
		t.Errorf("the run %q, going on when its instance left, is not recorded lost (%q)", leaver, stopped)
	}
	if t.Failed() {
		for _, in := range all {
			t.Logf("%s:\n%s", in.ID, strings.Join(in.Log("leadergate.log"), "\n"))
		}
	}
}

// waitRuns waits until the runs file has n lines starting with prefix.
func waitRuns(t *testing.T, runs, prefix string, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for len(runsOf(t, runs, prefix)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runs %q after 90s:\n%s", len(runsOf(t, runs, prefix)), n, prefix, strings.Join(runLines(t, runs), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With the ledger on (the default), an unnamed job fails the deployment
// before the swap, naming the fix: its identity comes from its schedule
// and command, so an edit would give it a new ledger key mid-deploy.
func TestEBUnnamedJobWithTheLedgerFailsTheDeployment(t *testing.T) {
	t.Parallel()
	env, _ := newEBEnv(t, nil)
	ins, err := env.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	err = env.Deploy(env.Bundle("v1", map[string]string{
		"leader-jobs.cron": "# leader-jobs.cron\n@every 2s ./bin/report\n",
		"bin/report":       "#!/bin/sh\ntrue\n",
	}))
	if err == nil || !strings.Contains(err.Error(), "# name:") {
		t.Fatalf("deploying an unnamed job with the ledger on: %v; want a failure naming # name:", err)
	}
	t.Logf("the deployment says:\n%s", err)
	if slices.Contains(ins[0].Steps(), "swap") {
		t.Errorf("steps %q: the failed deployment went live", ins[0].Steps())
	}
}

// An instance role without the ledger's permissions fails the deployment
// at once, before the swap, with the command that prints what to attach.
func TestEBMissingLedgerPermissionFailsTheDeployment(t *testing.T) {
	t.Parallel()
	env, _ := newEBEnv(t, nil)
	ins, err := env.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	deployOK(t, env, reportApp(env, "v1", nil))
	// The policy lost its PutItem (moto checks no IAM: the proxy answers
	// as DynamoDB does).
	env.DynamoDBProxy().Inject(awsfake.Fault{Kind: awsfake.Unauthorized, Action: "PutItem"})
	err = env.Deploy(reportApp(env, "v2", nil))
	env.DynamoDBProxy().ClearFaults()
	_, table := env.DynamoDB("LeadergateLedger")
	if err == nil || !strings.Contains(err.Error(), "leadergate iam-policy --ledger "+table) {
		t.Fatalf("deploying without PutItem: %v; want a failure naming `leadergate iam-policy --ledger %s`", err, table)
	}
	t.Logf("the deployment says:\n%s", err)
	steps := ins[0].Steps()
	if i := slices.Index(steps, "deploy v2 (hooks)"); i < 0 || slices.Contains(steps[i:], "swap") {
		t.Errorf("steps %q: the failed deployment went live", steps)
	}
}
