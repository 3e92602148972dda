package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// Times sit far from any boundary but the one a test crosses.
var (
	t0   = time.Date(2025, 11, 25, 2, 59, 58, 0, time.UTC)
	at03 = time.Date(2025, 11, 25, 3, 0, 0, 0, time.UTC)
)

func leader(gate.Job) (gate.Permit, error) { return gate.Permit{Run: true, Reason: "test leader"}, nil }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestLeaderJobRunsAtItsTickWithItsEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, `CRON_TZ=UTC
GREETING="hello   world"
# name: billing-run
0 3 * * * echo "$LEADERGATE_JOB|$LEADERGATE_SCHEDULED_AT|$LEADERGATE_RUN_ID|$GREETING"; echo oops >&2; exit 3
0 3 * * * echo second
0 4 * * * echo later
`)
	clock := newFakeClock(t0)
	auth := &fakeAuthority{answer: leader, limited: 4, t: t} // the start, then 3 jobs
	logs := newLogSink()
	stop := startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: -1, Clock: clock})

	clock.Advance(t, at03)
	start := logs.wait(t, "job started", "job", "billing-run")
	runID := start.Attrs["run_id"]
	if start.Attrs["scheduled_at"] != "2025-11-25T03:00:00Z" || start.Attrs["lateness"] != "0s" || len(runID) != 16 {
		t.Errorf("start record %v", start)
	}
	logs.wait(t, MsgJobOutput, "line", "billing-run|2025-11-25T03:00:00Z|"+runID+"|hello   world", "job", "billing-run", "run_id", runID, "stream", "stdout")
	logs.wait(t, MsgJobOutput, "line", "oops", "job", "billing-run", "run_id", runID, "stream", "stderr")
	fail := logs.wait(t, "job failed", "job", "billing-run", "run_id", runID)
	if fail.Attrs["exit_code"] != "3" || fail.Attrs["duration"] == "" {
		t.Errorf("finish record %v", fail)
	}
	logs.wait(t, MsgJobOutput, "line", "second", "job", "echo-second-56565a4e")
	if got := logs.find(MsgJobOutput, "line", "later"); len(got) != 0 {
		t.Errorf("the 04:00 job ran at 03:00: %v", got)
	}
	// Both 03:00 jobs asked with the same tick, which is what lets the
	// Authority coalesce them into one election.
	asked := slices.DeleteFunc(auth.jobs(), func(j gate.Job) bool { return j.Name == "(start)" })
	slices.SortFunc(asked, func(a, b gate.Job) int { return strings.Compare(a.Name, b.Name) })
	want := []gate.Job{{Name: "billing-run", Tick: at03}, {Name: "echo-second-56565a4e", Tick: at03}}
	if len(asked) != 2 || asked[0].Name != want[0].Name || !asked[0].Tick.Equal(at03) || asked[1].Name != want[1].Name || !asked[1].Tick.Equal(at03) {
		t.Errorf("authority asked %v, want %v", asked, want)
	}

	clock.Advance(t, at03.Add(time.Hour))
	logs.wait(t, MsgJobOutput, "line", "later", "stream", "stdout")
	if err := stop(); err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
}

func TestFollowerRunsOnlyEveryInstanceJobs(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, fmt.Sprintf(`CRON_TZ=UTC
0 3 * * * touch %[1]s/leader-ran
[all] 0 3 * * * touch %[1]s/all-ran
`, dir))
	clock := newFakeClock(t0)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: gate.Assume(false), Logger: logs.logger(), Refresh: -1, Clock: clock})

	leaderJob := DerivedName("0 3 * * *", time.UTC, "touch "+dir+"/leader-ran")
	allJob := DerivedName("0 3 * * *", time.UTC, "touch "+dir+"/all-ran")
	clock.Advance(t, at03)
	logs.wait(t, "job finished", "job", allJob)
	skip := logs.wait(t, "job skipped: not the leader", "job", leaderJob)
	if skip.Level.String() != "DEBUG" || skip.Attrs["reason"] != "assumed follower (--assume)" || skip.Attrs["scheduled_at"] != "2025-11-25T03:00:00Z" {
		t.Errorf("skip record %v", skip)
	}
	if !exists(filepath.Join(dir, "all-ran")) {
		t.Error("the [all] job did not run on a follower")
	}
	if exists(filepath.Join(dir, "leader-ran")) {
		t.Error("a leader-only job ran on a follower")
	}
	if got := logs.find("job started", "job", leaderJob); len(got) != 0 {
		t.Errorf("leader-only job started on a follower: %v", got)
	}
}

func TestAuthorityErrorSkipsLeaderJobsWithAWarning(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, fmt.Sprintf(`CRON_TZ=UTC
0 3 * * * touch %[1]s/leader-ran
[all] 0 3 * * * touch %[1]s/all-ran
`, dir))
	clock := newFakeClock(t0)
	logs := newLogSink()
	auth := &fakeAuthority{t: t, limited: 2, answer: func(gate.Job) (gate.Permit, error) {
		return gate.Permit{}, errors.New("describe instances: throttled")
	}}
	startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: -1, Clock: clock})

	leaderJob := DerivedName("0 3 * * *", time.UTC, "touch "+dir+"/leader-ran")
	allJob := DerivedName("0 3 * * *", time.UTC, "touch "+dir+"/all-ran")
	clock.Advance(t, at03)
	logs.wait(t, "job finished", "job", allJob)
	w := logs.wait(t, "job skipped: cannot tell whether this instance is the leader", "job", leaderJob)
	if w.Level.String() != "WARN" || w.Attrs["error"] != "describe instances: throttled" {
		t.Errorf("warning %v", w)
	}
	if exists(filepath.Join(dir, "leader-ran")) {
		t.Error("the job ran although the Authority could not tell")
	}
}

// blockingJob starts, says so in a file named after its run id, and waits
// for dir/release.
func blockingJob(dir string) string {
	return fmt.Sprintf(`touch %[1]s/started.$LEADERGATE_RUN_ID; while [ ! -e %[1]s/release ]; do sleep 0.02; done`, dir)
}

func TestJobStillRunningIsSkippedWithAWarning(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "[all] * * * * * * "+blockingJob(dir)+"\n")
	clock := newFakeClock(at03)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock})

	clock.Advance(t, at03.Add(time.Second))
	logs.wait(t, "job started")
	clock.Advance(t, at03.Add(2*time.Second))
	w := logs.wait(t, "job skipped: its previous run is still running or waiting for its election")
	if w.Level.String() != "WARN" || w.Attrs["scheduled_at"] != at03.Add(2*time.Second).Local().Format(time.RFC3339) {
		t.Errorf("warning %v", w)
	}
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o600)
	logs.wait(t, "job finished")
	if n := len(logs.find("job started")); n != 1 {
		t.Errorf("%d runs started, want 1", n)
	}
	// The next tick after the run ended runs again.
	clock.Advance(t, at03.Add(3*time.Second))
	logs.waitN(t, 2, "job finished")
}

func TestAllowOverlapRunsConcurrently(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "[all] * * * * * * "+blockingJob(dir)+"\n")
	clock := newFakeClock(at03)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, AllowOverlap: true})

	clock.Advance(t, at03.Add(time.Second))
	clock.Advance(t, at03.Add(2*time.Second))
	logs.waitN(t, 2, "job started")
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o600)
	logs.waitN(t, 2, "job finished")
	if got := logs.find("job skipped: its previous run is still running or waiting for its election"); len(got) != 0 {
		t.Errorf("skipped with AllowOverlap: %v", got)
	}
}

func TestReloadReplacesTheScheduleOrKeepsItWhenBroken(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n0 3 * * * echo v1\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	reload := make(chan os.Signal, 1)
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Reload: reload})
	logs.wait(t, "schedule loaded")

	writeCrontab(t, dir, fmt.Sprintf("CRON_TZ=UTC\n# name: long\n0 3 * * * echo v2; while [ ! -e %s/release ]; do sleep 0.02; done\n", dir))
	reload <- syscall.SIGHUP
	logs.wait(t, "schedule reloaded", "jobs", "1")
	clock.Advance(t, at03)
	logs.wait(t, MsgJobOutput, "line", "v2", "job", "long")

	// A broken file is reported line by line and changes nothing.
	writeCrontab(t, dir, "61 * * * * x\n0 0 0 * * y\n")
	reload <- syscall.SIGHUP
	errs := logs.waitN(t, 2, "reload failed, keeping the old schedule")
	if !strings.HasSuffix(errs[0].Attrs["error"], `leader-jobs.cron:1: minute field "61": value out of range 0-59`) ||
		!strings.HasSuffix(errs[1].Attrs["error"], `leader-jobs.cron:2: day-of-month field "0": value out of range 1-31`) ||
		errs[0].Level.String() != "ERROR" {
		t.Errorf("reload errors %v", errs)
	}

	// An unsafe file is refused the same way.
	os.Chmod(path, 0o666)
	reload <- syscall.SIGHUP
	logs.waitN(t, 3, "reload failed, keeping the old schedule")

	// A good file replaces the schedule; the running job goes on.
	writeCrontab(t, dir, "CRON_TZ=UTC\n0 4 * * * echo v3\n")
	reload <- syscall.SIGHUP
	logs.waitN(t, 2, "schedule reloaded")
	if got := logs.find("job finished", "job", "long"); len(got) != 0 {
		t.Fatalf("the running job ended at reload: %v", got)
	}
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o600)
	logs.wait(t, "job finished", "job", "long")

	clock.Advance(t, at03.Add(time.Hour))
	logs.wait(t, MsgJobOutput, "line", "v3")
	if got := logs.find(MsgJobOutput, "line", "v1"); len(got) != 0 {
		t.Errorf("the replaced v1 job ran: %v", got)
	}
	// The broken file never ran: only long and v3 started.
	v3 := DerivedName("0 4 * * *", time.UTC, "echo v3")
	for _, r := range logs.find("job started") {
		if r.Attrs["job"] != "long" && r.Attrs["job"] != v3 {
			t.Errorf("a job of the broken file ran: %v", r)
		}
	}
}

// alive reports whether pid is a live, non-zombie process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdownStopsRunningJobsAndTheirChildren(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, fmt.Sprintf(`CRON_TZ=UTC
# name: polite
[all] 0 3 * * * sleep 300 & echo $! > %[1]s/child.tmp && mv %[1]s/child.tmp %[1]s/child; sleep 300
# name: stubborn
[all] 0 3 * * * trap '' TERM; sleep 300 & echo $! > %[1]s/stubborn.tmp && mv %[1]s/stubborn.tmp %[1]s/stubborn; wait
`, dir))
	clock := newFakeClock(t0)
	logs := newLogSink()
	opts := Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Grace: time.Second}
	stop := startRun(t, opts)

	clock.Advance(t, at03)
	child := readPid(t, filepath.Join(dir, "child"))
	stubborn := readPid(t, filepath.Join(dir, "stubborn"))
	t.Cleanup(func() {
		syscall.Kill(child, syscall.SIGKILL)
		syscall.Kill(stubborn, syscall.SIGKILL)
	})
	if !alive(child) || !alive(stubborn) {
		t.Fatal("the jobs' children are not running")
	}
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	t.Logf("Run returned %v after cancel (grace 1s)", time.Since(begin))
	// SIGKILL is delivered asynchronously: give the kernel a moment.
	gone := func(pid int) bool {
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if !alive(pid) {
				return true
			}
		}
		return false
	}
	if !gone(child) {
		t.Error("the polite job's background child survived shutdown")
	}
	if !gone(stubborn) {
		t.Error("the child ignoring SIGTERM survived shutdown")
	}
	polite := logs.wait(t, "job stopped by shutdown", "job", "polite")
	hard := logs.wait(t, "job stopped by shutdown", "job", "stubborn")
	if polite.Attrs["exit_code"] != "143" || hard.Attrs["exit_code"] != "137" {
		t.Errorf("exit codes: polite %v, stubborn %v; want 143 (SIGTERM) and 137 (SIGKILL)", polite, hard)
	}
	logs.wait(t, "scheduler stopped")
}

func TestEveryOutputLineIsLoggedEvenOnAQuickExit(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, `CRON_TZ=UTC
[all] 0 3 * * * seq 1 3000; head -c 40000 /dev/zero | tr '\0' x; echo; printf 'crlf\r\n'; echo err >&2; printf 'no newline at the end'
`)
	clock := newFakeClock(t0)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock})
	clock.Advance(t, at03)
	logs.wait(t, "job finished")

	var out []string
	for _, r := range logs.all() {
		if r.Msg == MsgJobOutput && r.Attrs["stream"] == "stdout" {
			out = append(out, r.Attrs["line"])
		}
	}
	var want []string
	for i := 1; i <= 3000; i++ {
		want = append(want, strconv.Itoa(i))
	}
	long := strings.Repeat("x", 40000)
	want = append(want, long[:maxLogLine], long[maxLogLine:2*maxLogLine], long[2*maxLogLine:], "crlf", "no newline at the end")
	if !slices.Equal(out, want) {
		t.Errorf("stdout: %d records, want %d; last got %q", len(out), len(want), out[max(0, len(out)-3):])
	}
	if got := logs.find(MsgJobOutput, "line", "err", "stream", "stderr"); len(got) != 1 {
		t.Errorf("stderr line logged %d times", len(got))
	}
}

func TestRefreshLogsLeadershipTransitions(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "# no jobs\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	script := []struct {
		run bool
		err error
	}{{true, nil}, {true, nil}, {false, nil}, {false, errors.New("imds: no token")}, {false, nil}, {true, nil}}
	auth := &fakeAuthority{t: t, limited: len(script)}
	auth.answer = func(gate.Job) (gate.Permit, error) {
		s := script[len(auth.jobs())-1]
		return gate.Permit{Run: s.run, Reason: "scripted"}, s.err
	}
	startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: time.Minute, Clock: clock})

	now := t0
	for i := 1; i <= len(script); i++ {
		deadline := time.Now().Add(wait)
		for len(auth.jobs()) < i {
			if time.Now().After(deadline) {
				t.Fatalf("refresh %d did not happen", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if i < len(script) {
			now = now.Add(time.Minute)
			clock.Advance(t, now)
		}
	}
	logs.wait(t, "became leader")
	var got []string
	for _, r := range logs.all() {
		if r.Msg != "schedule loaded" {
			got = append(got, r.Level.String()+" "+r.Msg)
		}
	}
	want := []string{
		"INFO this instance is the leader",
		"INFO lost leadership",
		"WARN cannot tell whether this instance is the leader; leader-only jobs are skipped until it can",
		"INFO became leader",
	}
	if !slices.Equal(got, want) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, j := range auth.jobs() {
		name := "(refresh)"
		if i == 0 {
			name = "(start)" // the first election is made at start
		}
		if j.Name != name || !j.Tick.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("refresh %d asked %+v", i, j)
		}
	}
}

func TestMissedTickIsSkippedNotRunLate(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n[all] 0 3 * * * echo ran\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock})

	clock.Advance(t, at03.Add(2*time.Minute)) // as after a suspended VM
	w := logs.wait(t, "job skipped: missed its time (the scheduler was stopped or the clock jumped)")
	if w.Attrs["scheduled_at"] != "2025-11-25T03:00:00Z" || w.Attrs["lateness"] != "2m0s" {
		t.Errorf("warning %v", w)
	}
	// The next day's tick runs normally.
	clock.Advance(t, at03.Add(24*time.Hour))
	logs.wait(t, MsgJobOutput, "line", "ran")
	if got := logs.find("job started"); len(got) != 1 || got[0].Attrs["scheduled_at"] != "2025-11-26T03:00:00Z" {
		t.Errorf("runs: %v", got)
	}
}

func TestRunRefusesABadOrUnsafeFileAtStart(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "61 * * * * x\n")
	err := Run(t.Context(), Options{File: path, Authority: gate.Assume(true)})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.ExitCode() != 65 {
		t.Errorf("bad file: got %v, want a ParseError (65)", err)
	}
	writeCrontab(t, dir, "@daily x\n")
	os.Chmod(path, 0o620)
	err = Run(t.Context(), Options{File: path, Authority: gate.Assume(true)})
	var fe *FileError
	if !errors.As(err, &fe) || fe.ExitCode() != 78 {
		t.Errorf("group-writable file: got %v, want a FileError (78)", err)
	}
}

func TestSecondsJobsRunOnTheRealClock(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "* * * * * * echo tick\n")
	logs := newLogSink()
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1})
	starts := logs.waitN(t, 2, "job started")
	stop()
	var ticks []time.Time
	for _, s := range starts[:2] {
		tick, err := time.Parse(time.RFC3339, s.Attrs["scheduled_at"])
		if err != nil {
			t.Fatal(err)
		}
		ticks = append(ticks, tick)
		late, err := time.ParseDuration(s.Attrs["lateness"])
		if err != nil || late < 0 {
			t.Errorf("lateness %q: %v", s.Attrs["lateness"], err)
		}
		t.Logf("tick %s started %s late", tick.Format(time.TimeOnly), late)
	}
	if !ticks[1].After(ticks[0]) {
		t.Errorf("ticks %v do not advance", ticks)
	}
}

// TestTimeoutStopsAHungJob: a run still going after its "# timeout:" gets
// SIGTERM to its process group, SIGKILL after the grace period if it
// ignores that, and is logged at ERROR; the next tick is not skipped for
// an overlap.
func TestTimeoutStopsAHungJob(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, `CRON_TZ=UTC
# name: hung
# timeout: 1s
0 3 * * * sleep 30
# name: stubborn
# timeout: 1s
0 3 * * * trap "" TERM; sleep 30
`)
	clock := newFakeClock(t0)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Grace: time.Second})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, at03)
	const msg = "job stopped: it ran longer than its # timeout (SIGTERM to its process group, SIGKILL after the grace period)"
	hung := logs.wait(t, msg, "job", "hung")
	stubborn := logs.wait(t, msg, "job", "stubborn")
	if hung.Level != slog.LevelError || hung.Attrs["exit_code"] != "143" || hung.Attrs["timeout"] != "1s" {
		t.Errorf("hung job: %v; want ERROR, exit code 143 (SIGTERM), timeout 1s", hung)
	}
	if stubborn.Attrs["exit_code"] != "137" {
		t.Errorf("a job ignoring SIGTERM: %v; want exit code 137 (SIGKILL after the grace period)", stubborn)
	}
	if got := logs.find("job failed"); len(got) != 0 {
		t.Errorf("a timed-out run was also logged as failed: %v", got)
	}
}

// configError is an election failure no retry fixes: exit code 78.
type configError struct{ msg string }

func (e configError) Error() string { return e.msg }
func (configError) ExitCode() int   { return exitcode.Config }

// TestStartFailsOnAConfigurationError: the first election is made at
// start; a configuration error (78) stops the scheduler with that error,
// a temporary one keeps it running.
func TestStartFailsOnAConfigurationError(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "@daily echo x\n")
	denied := configError{"describe instances: AccessDenied: add ec2:DescribeInstances to the instance role"}
	auth := &fakeAuthority{t: t, limited: 1, answer: func(gate.Job) (gate.Permit, error) { return gate.Permit{}, denied }}
	err := Run(context.Background(), Options{File: path, Authority: auth, Clock: newFakeClock(t0)})
	if !errors.Is(err, denied) || exitcode.Of(err) != exitcode.Config {
		t.Fatalf("Run returned %v (exit %d), want the configuration error (78)", err, exitcode.Of(err))
	}
	if j := auth.jobs(); len(j) != 1 || j[0].Name != "(start)" {
		t.Errorf("asked %v, want one election at start", j)
	}

	// A temporary failure keeps it running and retrying.
	logs := newLogSink()
	temp := &fakeAuthority{t: t, answer: func(gate.Job) (gate.Permit, error) { return gate.Permit{}, errors.New("throttled") }}
	stop := startRun(t, Options{File: path, Authority: temp, Logger: logs.logger(), Refresh: time.Minute, Clock: newFakeClock(t0)})
	logs.wait(t, "schedule loaded")
	if w := logs.wait(t, "cannot tell whether this instance is the leader; leader-only jobs are skipped until it can"); w.Level != slog.LevelWarn {
		t.Errorf("a temporary failure logged %v, want WARN", w)
	}
	if err := stop(); err != nil {
		t.Errorf("Run returned %v", err)
	}
}

// TestConfigurationErrorAfterStartLogsOncePerChange: once running, an
// election that fails for configuration logs at ERROR once per change of
// the error, not at every tick or refresh.
func TestConfigurationErrorAfterStartLogsOncePerChange(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n* * * * * echo x\n")
	var mu sync.Mutex
	answer := error(nil)
	set := func(err error) { mu.Lock(); answer = err; mu.Unlock() }
	auth := &fakeAuthority{t: t, answer: func(gate.Job) (gate.Permit, error) {
		mu.Lock()
		defer mu.Unlock()
		return gate.Permit{Run: answer == nil, Reason: "test"}, answer
	}}
	clock := newFakeClock(t0)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: time.Minute, Clock: clock})
	logs.wait(t, "schedule loaded")
	set(configError{"the group tag elasticbeanstalk:environment-id is missing"})
	now := t0.Truncate(time.Minute)
	for i := 1; i <= 4; i++ {
		now = now.Add(time.Minute)
		clock.Advance(t, now)
		logs.waitN(t, i, "job skipped: cannot tell whether this instance is the leader")
	}
	set(configError{"describe instances: AccessDenied"})
	now = now.Add(time.Minute)
	clock.Advance(t, now)
	logs.waitN(t, 5, "job skipped: cannot tell whether this instance is the leader")
	const msg = "cannot tell whether this instance is the leader; leader-only jobs are skipped until it can; this is a configuration error: fix it, no retry will"
	errs := logs.waitN(t, 2, msg)
	if len(logs.find(msg)) != 2 || errs[0].Level != slog.LevelError || errs[0].Attrs["error"] != "the group tag elasticbeanstalk:environment-id is missing" ||
		errs[1].Attrs["error"] != "describe instances: AccessDenied" {
		t.Errorf("want one ERROR per distinct configuration error, got %v", logs.find(msg))
	}
	for _, r := range logs.find("job skipped: cannot tell whether this instance is the leader") {
		if r.Level != slog.LevelDebug {
			t.Errorf("a per-tick skip for a configuration error logged at %v, want DEBUG (the ERROR says it once)", r.Level)
		}
	}
}
