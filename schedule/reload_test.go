package schedule

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// A job added by a reload has no tick from before it existed: the 03:00
// tick had passed (03:00:30) when the reload added a 03:00 job, which must
// not run at once, 30 s late.
func TestAJobAddedByReloadDoesNotRunForATickBeforeIt(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n0 4 * * * echo far\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	reload := make(chan os.Signal, 1)
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Reload: reload})
	logs.wait(t, "schedule loaded")
	clock.WaitFor(t, t0.Add(maxSleep)) // the loop sleeps, handled up to t0
	clock.Set(at03.Add(30 * time.Second))

	writeCrontab(t, dir, "CRON_TZ=UTC\n0 4 * * * echo far\n0 3 * * * echo new\n")
	reload <- syscall.SIGHUP
	logs.wait(t, "schedule reloaded", "jobs", "2")
	clock.Advance(t, at03.Add(time.Hour))
	logs.wait(t, "job finished", "job", DerivedName("0 4 * * *", time.UTC, "echo far"))
	if got := logs.find("job started", "job", DerivedName("0 3 * * *", time.UTC, "echo new")); len(got) != 0 {
		t.Errorf("the job added at 03:00:30 ran for the 03:00 tick: %v", got)
	}
}

// A crontab replaced by a named pipe is refused at reload, at once: the
// scheduler hung opening it, and then ignored SIGTERM.
func TestReloadRefusesAPipeAndStillStops(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n0 4 * * * echo far\n")
	logs := newLogSink()
	reload := make(chan os.Signal, 1)
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: newFakeClock(t0), Reload: reload})
	logs.wait(t, "schedule loaded")

	os.Remove(path)
	opened := mkfifo(t, filepath.Join(dir, "leader-jobs.cron"))
	reload <- syscall.SIGHUP
	e := logs.wait(t, "reload failed, keeping the old schedule")
	if e.Attrs["error"] != "crontab "+path+" is a named pipe, not a regular file: pass the path of a file" {
		t.Errorf("reload error %v", e)
	}
	if opened.Load() {
		t.Error("the reload opened the pipe: without a writer it waits forever, deaf to SIGTERM")
	}
	if err := stop(); err != nil {
		t.Errorf("Run returned %v", err)
	}
}

// namesLedger records the job names it is asked to claim under, and
// takes no tick.
type namesLedger struct {
	mu    sync.Mutex
	names []string
	asked chan struct{}
}

func (l *namesLedger) Take(_ context.Context, req gate.TurnRequest) (gate.Claim, error) {
	l.mu.Lock()
	l.names = append(l.names, req.Job.Name)
	l.mu.Unlock()
	l.asked <- struct{}{}
	return gate.Claim{Result: ClaimTakenElsewhere}, nil
}

func (l *namesLedger) Look(context.Context, gate.TurnRequest) (gate.Claim, error) {
	return gate.Claim{}, nil
}

func (l *namesLedger) Orphans(context.Context, []string) ([]gate.Job, error) { return nil, nil }

func (l *namesLedger) CatchUp(context.Context, string, func(time.Time) time.Time, time.Time, time.Duration) (time.Time, bool, error) {
	return time.Time{}, false, nil
}

// The ledger keys a tick by the job's name: an unnamed job moved down by a
// reload (lines added above it, as between two versions of a crontab in a
// rolling deploy) is claimed under the same name. It was file:line.
func TestTheLedgerKeyOfAnUnnamedJobSurvivesLinesAddedAboveIt(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n0 3 * * * echo bill\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	reload := make(chan os.Signal, 1)
	l := &namesLedger{asked: make(chan struct{}, 10)}
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Reload: reload, Ledger: l})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, at03)
	<-l.asked

	writeCrontab(t, dir, "CRON_TZ=UTC\nPATH=/usr/bin:/bin\n# name: other\n0 5 * * * echo other\n\n0 3 * * * echo bill\n")
	reload <- syscall.SIGHUP
	logs.wait(t, "schedule reloaded", "jobs", "2")
	clock.Advance(t, at03.Add(24*time.Hour))
	<-l.asked

	l.mu.Lock()
	defer l.mu.Unlock()
	want := DerivedName("0 3 * * *", time.UTC, "echo bill")
	if len(l.names) != 2 || l.names[0] != want || l.names[1] != want {
		t.Errorf("claimed under %q, want %q twice", l.names, want)
	}
}
