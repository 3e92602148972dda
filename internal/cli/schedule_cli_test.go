package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/proctest"
	"github.com/leadergate/leadergate/schedule"
)

// These tests run "leadergate schedule" as its own process, as systemd
// would, with --assume instead of AWS, and look at what an operator sees:
// what the jobs wrote and the scheduler's JSON log on stderr.

const (
	cliGrace = 2 * time.Second // the schedulers' --grace
	// cliExitMargin is how long past --grace a SIGTERMed scheduler may take
	// to exit: a bound so that nothing hangs on a busy machine, not a
	// performance figure.
	cliExitMargin = 6 * time.Second
	// cliWait bounds every wait for something that should happen within a
	// second or two (the jobs here are due every second). A wait ends as soon
	// as it is met, so the bound is generous: four every-second runs can take
	// far longer than 4s on a loaded 2-core machine.
	cliWait = 20 * time.Second
)

// Log messages of schedule/run.go the tests look for.
const (
	msgStarted    = "job started"
	msgFinished   = "job finished"
	msgOverlap    = "job skipped: its previous run is still running or waiting for its election"
	msgFollower   = "job skipped: not the leader"
	msgShutdown   = "job stopped by shutdown"
	msgReloaded   = "schedule reloaded"
	msgReloadFail = "reload failed, keeping the old schedule"
	msgStopped    = "scheduler stopped"
)

// TestScheduleBinarySecondsJobsAndOverlap: a six-field job runs every
// second with its name, tick and a fresh run id in its environment, and a
// job still running when it is due again is skipped with a warning rather
// than started twice.
func TestScheduleBinarySecondsJobsAndOverlap(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ticks.log")
	tab := writeCrontab(t, dir, "jobs.cron", fmt.Sprintf(`# name: tick
* * * * * * echo "tick $LEADERGATE_JOB $LEADERGATE_SCHEDULED_AT $LEADERGATE_RUN_ID" >> '%s'
# name: long
* * * * * * sleep 30
`, out))
	s := startSchedule(t, dir, "--assume", "leader", "schedule", "--log-format", "json", "--grace", cliGrace.String(), tab)

	if !waitFor(cliWait, func() bool { return len(completeLines(t, out)) >= 4 }) {
		t.Fatalf("the every-second job wrote %d lines in %s, want at least 4", len(completeLines(t, out)), cliWait)
	}
	if !waitFor(cliWait, func() bool { return len(s.find(msgOverlap, "long")) >= 2 }) {
		t.Fatalf("the long job's later ticks were not logged as skipped (%q) within %s", msgOverlap, cliWait)
	}

	// The job's own view: its environment, one line per tick.
	hexID := regexp.MustCompile(`^[0-9a-f]{16}$`)
	runIDs := map[string]bool{}
	var ticks []time.Time
	for _, l := range completeLines(t, out) {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "tick" {
			t.Fatalf("job wrote %q, want \"tick JOB SCHEDULED_AT RUN_ID\" with every variable set", l)
		}
		if f[1] != "tick" {
			t.Errorf("LEADERGATE_JOB = %q, want the name comment's \"tick\"", f[1])
		}
		at, err := time.Parse(time.RFC3339, f[2])
		if err != nil {
			t.Errorf("LEADERGATE_SCHEDULED_AT = %q: %v", f[2], err)
			continue
		}
		if at.Nanosecond() != 0 {
			t.Errorf("LEADERGATE_SCHEDULED_AT = %q, want a whole second (the nominal tick)", f[2])
		}
		if len(ticks) > 0 && !at.After(ticks[len(ticks)-1]) {
			t.Errorf("LEADERGATE_SCHEDULED_AT %s follows %s: each run must have a later tick", at, ticks[len(ticks)-1])
		}
		ticks = append(ticks, at)
		if !hexID.MatchString(f[3]) {
			t.Errorf("LEADERGATE_RUN_ID = %q, want 16 hex digits", f[3])
		}
		if runIDs[f[3]] {
			t.Errorf("LEADERGATE_RUN_ID %s given to two runs", f[3])
		}
		runIDs[f[3]] = true

		// The log says the same: a start record with this run's id and tick.
		started := s.findWhere(msgStarted, "tick", func(r logRecord) bool { return r.str("run_id") == f[3] })
		if len(started) != 1 {
			t.Errorf("run %s: %d %q records with its run_id, want 1", f[3], len(started), msgStarted)
		} else if got := started[0].str("scheduled_at"); got != f[2] {
			t.Errorf("run %s: logged scheduled_at %q, but the job saw %q", f[3], got, f[2])
		}
	}
	// Each run ends with a finished record carrying exit code 0.
	first := completeLines(t, out)[0]
	firstID := strings.Fields(first)[3]
	if !waitFor(cliWait, func() bool {
		return len(s.findWhere(msgFinished, "tick", func(r logRecord) bool { return r.str("run_id") == firstID })) == 1
	}) {
		t.Errorf("no %q record for run %s", msgFinished, firstID)
	} else if r := s.findWhere(msgFinished, "tick", func(r logRecord) bool { return r.str("run_id") == firstID })[0]; r.num("exit_code") != 0 {
		t.Errorf("run %s logged exit_code %v, want 0", firstID, r["exit_code"])
	}

	// The long job: started once, each later tick skipped with a warning.
	started := s.find(msgStarted, "long")
	if len(started) != 1 {
		t.Fatalf("the long job started %d times, want once: a job still running must not start again", len(started))
	}
	first0, _ := time.Parse(time.RFC3339, started[0].str("scheduled_at"))
	skips := s.find(msgOverlap, "long")
	for _, r := range skips {
		if r.str("level") != "WARN" {
			t.Errorf("overlap skip logged at %s, want WARN", r.str("level"))
		}
		at, err := time.Parse(time.RFC3339, r.str("scheduled_at"))
		if err != nil || !at.After(first0) {
			t.Errorf("overlap skip for tick %q, want a tick after the running one (%s)", r.str("scheduled_at"), first0.Format(time.RFC3339))
		}
	}
	t.Logf("%d runs of the every-second job, long job started once and skipped %d times", len(ticks), len(skips))

	// On SIGTERM the long job is stopped, and so is the scheduler.
	s.stop(t)
	if rs := s.find(msgShutdown, "long"); len(rs) != 1 {
		t.Errorf("%d %q records for the long job, want 1", len(rs), msgShutdown)
	}
}

// TestScheduleBinaryReload: SIGHUP swaps in an edited file; a broken file
// is reported line by line and changes nothing while the process runs on.
func TestScheduleBinaryReload(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "versions.log")
	job := func(v string) string {
		return fmt.Sprintf("# name: version\n* * * * * * echo %s >> '%s'\n", v, out)
	}
	tab := writeCrontab(t, dir, "jobs.cron", job("v1"))
	s := startSchedule(t, dir, "--assume", "leader", "schedule", "--log-format", "json", "--grace", cliGrace.String(), tab)
	count := func(v string) int { return countLines(completeLines(t, out), v) }

	if !waitFor(cliWait, func() bool { return count("v1") >= 1 }) {
		t.Fatalf("no v1 line within %s", cliWait)
	}

	// An edited file, then SIGHUP.
	writeCrontab(t, dir, "jobs.cron", job("v2"))
	s.signal(t, syscall.SIGHUP)
	if !waitFor(cliWait, func() bool { return len(s.find(msgReloaded, "")) == 1 }) {
		t.Fatalf("no %q record within %s of SIGHUP", msgReloaded, cliWait)
	}
	if !waitFor(cliWait, func() bool { return count("v2") >= 3 }) {
		t.Fatalf("%d v2 lines within %s of the reload, want 3", count("v2"), cliWait)
	}
	// A v1 run that started just before the reload may finish after the
	// first v2 one; none may follow the second.
	lines := completeLines(t, out)
	secondV2 := slices.Index(lines, "v2")
	secondV2 += 1 + slices.Index(lines[secondV2+1:], "v2")
	if n := countLines(lines[secondV2:], "v1"); n > 0 {
		t.Errorf("%d v1 lines after the reloaded job had run twice: the old job kept running\n%s", n, strings.Join(lines, "\n"))
	}

	// A broken file: one bad line (minute 61) next to a good v3 job.
	writeCrontab(t, dir, "jobs.cron", job("v3")+"61 * * * * echo never\n")
	v2Before := count("v2")
	s.signal(t, syscall.SIGHUP)
	if !waitFor(cliWait, func() bool { return len(s.find(msgReloadFail, "")) > 0 }) {
		t.Fatalf("no %q record within %s of SIGHUP with a broken file", msgReloadFail, cliWait)
	}
	fails := s.find(msgReloadFail, "")
	if len(fails) != 1 {
		t.Errorf("%d %q records, want 1 (one bad line)", len(fails), msgReloadFail)
	}
	want := tab + `:3: minute field "61": value out of range 0-59`
	if got := fails[0].str("error"); got != want {
		t.Errorf("reload error = %q, want %q", got, want)
	}
	if got := fails[0].str("level"); got != "ERROR" {
		t.Errorf("reload failure logged at %s, want ERROR", got)
	}
	if !waitFor(cliWait, func() bool { return count("v2") >= v2Before+2 }) {
		t.Errorf("v2 stopped after the failed reload: %d lines before, %d now", v2Before, count("v2"))
	}
	if n := count("v3"); n > 0 {
		t.Errorf("%d v3 lines: a file with a bad line must change nothing", n)
	}
	select {
	case <-s.done:
		t.Fatalf("the scheduler exited after a failed reload (%s)", s.cmd.ProcessState)
	default:
	}
	s.stop(t)
}

// TestScheduleBinarySIGTERMStopsJobsAndChildren: SIGTERM reaches every
// process of a running job's group, SIGKILL follows after --grace for what
// ignores it, and the scheduler exits 0 either way.
func TestScheduleBinarySIGTERMStopsJobsAndChildren(t *testing.T) {
	for _, tc := range []struct {
		name, prelude string
		wantCode      int // the job's exit code as logged
	}{
		{"job dies on SIGTERM", "", 128 + int(syscall.SIGTERM)},
		{"job ignoring SIGTERM is killed after grace", "trap '' TERM; ", 128 + int(syscall.SIGKILL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "pids")
			// The shell's pid, then its background child's, published at
			// once by rename so that the test never reads half of it.
			tab := writeCrontab(t, dir, "jobs.cron", fmt.Sprintf(
				"# name: holder\n* * * * * * %secho $$ > '%[2]s.tmp'; sleep 300 & echo $! >> '%[2]s.tmp'; mv '%[2]s.tmp' '%[2]s'; wait\n",
				tc.prelude, pidFile))
			s := startSchedule(t, dir, "--assume", "leader", "schedule", "--log-format", "json", "--grace", cliGrace.String(), tab)

			var pids []int
			if !waitFor(cliWait, func() bool {
				b, err := os.ReadFile(pidFile)
				if err != nil {
					return false
				}
				pids = pids[:0]
				for _, f := range strings.Fields(string(b)) {
					n, err := strconv.Atoi(f)
					if err != nil {
						t.Fatalf("pid file holds %q", b)
					}
					pids = append(pids, n)
				}
				return true
			}) {
				t.Fatalf("the job did not record its pids within %s", cliWait)
			}
			if len(pids) != 2 {
				t.Fatalf("pid file holds %d pids, want the shell's and its child's", len(pids))
			}
			for _, pid := range pids {
				if !proctest.Alive(pid) {
					t.Fatalf("pid %d is not running before SIGTERM", pid)
				}
			}

			s.stop(t)
			for i, pid := range pids {
				who := []string{"the job's shell", "the job's background child"}[i]
				// SIGKILL is delivered at once but a process takes a moment
				// to die: poll, with a bound.
				if !waitFor(cliWait, func() bool { return !proctest.Alive(pid) }) {
					t.Errorf("%s (pid %d) still runs after the scheduler exited", who, pid)
				}
			}
			rs := s.find(msgShutdown, "holder")
			if len(rs) != 1 {
				t.Fatalf("%d %q records for the job, want 1", len(rs), msgShutdown)
			}
			if got := rs[0].num("exit_code"); got != float64(tc.wantCode) {
				t.Errorf("the job's exit_code = %v, want %d", got, tc.wantCode)
			}
			if n := len(s.find(msgStarted, "holder")); n != 1 {
				t.Errorf("the job started %d times, want once", n)
			}
		})
	}
}

// TestScheduleBinaryFollowerRunsOnlyEveryInstanceJobs: on a follower only
// [all] jobs run; leader-only ones are skipped at every tick.
func TestScheduleBinaryFollowerRunsOnlyEveryInstanceJobs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ran.log")
	tab := writeCrontab(t, dir, "jobs.cron", fmt.Sprintf(`# name: leader-only
* * * * * * echo leader >> '%[1]s'
# name: everywhere
[all] * * * * * * echo all >> '%[1]s'
`, out))
	s := startSchedule(t, dir, "--assume", "follower", "-v", "schedule", "--log-format", "json", "--grace", cliGrace.String(), tab)
	count := func(v string) int { return countLines(completeLines(t, out), v) }

	if !waitFor(cliWait, func() bool { return count("all") >= 3 }) {
		t.Fatalf("the [all] job wrote %d lines within %s, want 3", count("all"), cliWait)
	}
	// The leader-only job was due as often and was turned down each time.
	if !waitFor(cliWait, func() bool { return len(s.find(msgFollower, "leader-only")) >= 3 }) {
		t.Errorf("%d %q records for the leader-only job, want one per tick", len(s.find(msgFollower, "leader-only")), msgFollower)
	}
	s.stop(t)
	if n := count("leader"); n > 0 {
		t.Errorf("the leader-only job ran %d times on a follower", n)
	}
	if n := len(s.find(msgStarted, "leader-only")); n > 0 {
		t.Errorf("the leader-only job logged %d starts on a follower", n)
	}
	if n := len(s.find(msgFollower, "everywhere")); n > 0 {
		t.Errorf("the [all] job was turned down %d times: it must not ask the authority", n)
	}
	if len(s.find("this instance is a follower", "")) != 1 {
		t.Errorf("no %q record", "this instance is a follower")
	}
}

// TestScheduleBinaryCheck: --check lists each job with its next runs and
// exits 0; a file with bad lines exits 65 naming each; an unsafe file
// exits 78 naming the fix, and the scheduler will not run it either.
func TestScheduleBinaryCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeCrontab(t, dir, "good.cron", `CRON_TZ=UTC
# name: nightly
0 3 * * * echo nightly
[all] @every 10s echo every ten seconds
`)

	code, stdout, stderr := runLeadergate(t, dir, "schedule", "--check", good)
	if code != 0 || stderr != "" {
		t.Fatalf("--check on a good file: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	for _, want := range []string{
		good + ":3 nightly (leader only)\n",
		"  command   echo nightly\n",
		good + ":4 " + schedule.DerivedName("@every 10s", time.UTC, "echo every ten seconds") + " (every instance, unnamed)\n",
		"  command   echo every ten seconds\n",
		good + ": 2 jobs, ok\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--check output lacks %q:\n%s", want, stdout)
		}
	}
	var nexts [][]time.Time
	for l := range strings.Lines(stdout) {
		rest, ok := strings.CutPrefix(l, "  next      ")
		if !ok {
			continue
		}
		var ts []time.Time
		for _, s := range strings.Split(strings.TrimSpace(rest), ", ") {
			at, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Fatalf("next time %q: %v", s, err)
			}
			ts = append(ts, at)
		}
		nexts = append(nexts, ts)
	}
	if len(nexts) != 2 || len(nexts[0]) != 3 || len(nexts[1]) != 3 {
		t.Fatalf("want a next line with 3 times for each of 2 jobs, got %v:\n%s", nexts, stdout)
	}
	for i, at := range nexts[0] {
		if !strings.HasSuffix(at.Format(time.RFC3339), "T03:00:00Z") {
			t.Errorf("nightly run %s, want 03:00:00Z", at.Format(time.RFC3339))
		}
		if i > 0 && at.Sub(nexts[0][i-1]) != 24*time.Hour {
			t.Errorf("nightly runs %s then %s, want a day apart", nexts[0][i-1], at)
		}
	}
	for i, at := range nexts[1] {
		if at.Second()%10 != 0 {
			t.Errorf("ten-second run at %s, want a multiple of 10 s", at.Format(time.RFC3339))
		}
		if i > 0 && at.Sub(nexts[1][i-1]) != 10*time.Second {
			t.Errorf("ten-second runs %s then %s, want 10 s apart", nexts[1][i-1], at)
		}
	}

	bad := writeCrontab(t, dir, "bad.cron", `# name: a
61 * * * * echo a
# fine
0 24 * * * echo b
@hourly echo fine
`)
	code, stdout, stderr = runLeadergate(t, dir, "schedule", "--check", bad)
	if code != 65 {
		t.Errorf("--check on a bad file exited %d, want 65", code)
	}
	if stdout != "" {
		t.Errorf("--check on a bad file printed %q on stdout, want nothing", stdout)
	}
	for _, want := range []string{
		bad + `:2: minute field "61": value out of range 0-59`,
		bad + `:4: hour field "24": value out of range 0-23`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--check on a bad file: stderr lacks %q:\n%s", want, stderr)
		}
	}

	if err := os.Chmod(good, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"schedule", "--check", good},
		{"--assume", "leader", "schedule", "--log-format", "json", good},
	} {
		code, stdout, stderr = runLeadergate(t, dir, args...)
		if code != 78 {
			t.Errorf("%s on a mode 0666 file exited %d, want 78", strings.Join(args, " "), code)
		}
		if want := "run chmod go-w " + good; !strings.Contains(stderr, want) {
			t.Errorf("%s on a mode 0666 file: stderr lacks %q:\n%s", strings.Join(args, " "), want, stderr)
		}
		if stdout != "" {
			t.Errorf("%s on a mode 0666 file printed %q on stdout", strings.Join(args, " "), stdout)
		}
	}
}

// schedProc is one "leadergate schedule" process.
type schedProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *proctest.Buffer
	done   chan struct{} // closed once the process has been waited for
}

// cliEnv is the test's environment with no AWS or leadergate settings but
// a state dir of its own: --assume must need nothing else.
func cliEnv(dir string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "LEADERGATE_")
	})
	return append(env,
		"AWS_EC2_METADATA_DISABLED=true",
		"LEADERGATE_STATE_DIR="+filepath.Join(dir, "state"),
		"LEADERGATE_MARKER=",
	)
}

func startSchedule(t *testing.T, dir string, args ...string) *schedProc {
	t.Helper()
	return startBinary(t, "leadergate", dir, args...)
}

// startBinary is startSchedule with the leadergate binary at bin.
func startBinary(t *testing.T, bin, dir string, args ...string) *schedProc {
	t.Helper()
	s := &schedProc{t: t, stderr: &proctest.Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = cliEnv(dir)
	s.cmd.Dir = dir
	s.cmd.Stderr = s.stderr
	// Its own group, so a terminal's Ctrl-C reaches only go test.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start leadergate %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			// Stop it as an operator would, so that its jobs are stopped
			// too; SIGKILL only if that fails.
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(cliGrace + cliExitMargin):
				syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("scheduler stderr:\n%s", s.stderr.String())
		}
	})
	return s
}

func (s *schedProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to the scheduler: %v", sig, err)
	}
}

// stop sends SIGTERM and expects exit status 0 within --grace and a margin,
// after a "scheduler stopped" record.
func (s *schedProc) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	s.signal(t, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(cliGrace + cliExitMargin):
		t.Fatalf("the scheduler did not exit within %s of SIGTERM (--grace %s)", cliGrace+cliExitMargin, cliGrace)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the scheduler exited %d on SIGTERM (%s), want 0", code, s.cmd.ProcessState)
	}
	if len(s.find(msgStopped, "")) != 1 {
		t.Errorf("no %q record before exit", msgStopped)
	}
	t.Logf("the scheduler exited %d %.2fs after SIGTERM", s.cmd.ProcessState.ExitCode(), time.Since(start).Seconds())
}

// logRecord is one JSON line of the scheduler's stderr.
type logRecord map[string]any

func (r logRecord) str(key string) string {
	s, _ := r[key].(string)
	return s
}

func (r logRecord) num(key string) float64 {
	n, ok := r[key].(float64)
	if !ok {
		return -1
	}
	return n
}

// records parses the complete lines of stderr; a line that is not JSON
// would be a stray write that --log-format json promises not to make.
func (s *schedProc) records() ([]logRecord, error) {
	var rs []logRecord
	for l := range strings.Lines(s.stderr.String()) {
		if !strings.HasSuffix(l, "\n") {
			break // being written
		}
		var r logRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return nil, fmt.Errorf("stderr line %q is not JSON: %w", l, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// find returns the records with message msg and, unless job is empty,
// that job.
func (s *schedProc) find(msg, job string) []logRecord {
	return s.findWhere(msg, job, func(logRecord) bool { return true })
}

func (s *schedProc) findWhere(msg, job string, also func(logRecord) bool) []logRecord {
	s.t.Helper()
	rs, err := s.records()
	if err != nil {
		s.t.Fatal(err)
	}
	var out []logRecord
	for _, r := range rs {
		if r.str("msg") == msg && (job == "" || r.str("job") == job) && also(r) {
			out = append(out, r)
		}
	}
	return out
}

// runLeadergate runs one leadergate command to its end.
func runLeadergate(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command("leadergate", args...)
	cmd.Env = cliEnv(dir)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start leadergate: %v", err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(cliWait):
		cmd.Process.Kill()
		<-done
		t.Fatalf("leadergate %s did not exit within %s", strings.Join(args, " "), cliWait)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("leadergate %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

// writeCrontab writes a crontab of mode 0600 in dir and returns its path.
func writeCrontab(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// completeLines returns the newline-terminated lines of a file the jobs
// append to, without their newlines; a missing file has none.
func completeLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(string(b)) {
		if !strings.HasSuffix(l, "\n") {
			break
		}
		out = append(out, strings.TrimSuffix(l, "\n"))
	}
	return out
}

func countLines(lines []string, want string) int {
	n := 0
	for _, l := range lines {
		if l == want {
			n++
		}
	}
	return n
}
