package schedule

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// fakeControls answers Read from a function and records the notes.
type fakeControls struct {
	mu    sync.Mutex
	read  func() (ControlView, error)
	reads int
	notes []string // job + " " + reason
}

func (c *fakeControls) Read(context.Context) (ControlView, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.read()
}

func (c *fakeControls) Note(_ context.Context, job string, tick time.Time, missed bool, reason string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notes = append(c.notes, job+" "+reason)
	return true, nil
}

func (c *fakeControls) Settled(time.Duration) time.Duration { return time.Hour }

func (c *fakeControls) Missed(context.Context, string, func(time.Time) time.Time, time.Time) ([]time.Time, int, error) {
	return nil, 0, nil
}

func (c *fakeControls) Take(context.Context, Request, time.Time, gate.TurnRequest) (gate.Claim, error) {
	return gate.Claim{}, errors.New("fakeControls: no requests")
}

type pausedView struct{ job string }

func (v pausedView) Paused(job string, _ time.Time) (string, bool) {
	return "paused by ann: INC-1", job == v.job
}
func (pausedView) Requests(time.Time) []Request { return nil }

// TestAPausedJobIsSkippedAndTheLeaderRecordsIt: every tick of a paused job
// is skipped without a claim, and the leader records it skipped with the
// pause's who and why; the other job runs; the controls are read once per
// tick batch, not once per job.
func TestAPausedJobIsSkippedAndTheLeaderRecordsIt(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "# name: paused\n* * * * * * true\n# name: free\n* * * * * * true\n")
	logs := newLogSink()
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	c := &fakeControls{read: func() (ControlView, error) { return pausedView{"paused"}, nil }}
	auth := &fakeAuthority{t: t, answer: func(gate.Job) (gate.Permit, error) { return gate.Permit{Run: true}, nil }}
	stop := startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: -1, Ledger: l, Controls: c})
	logs.waitN(t, 2, "job skipped: paused", "job", "paused")
	logs.wait(t, "job finished", "job", "free")
	stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.notes) < 2 || c.notes[0] != "paused paused by ann: INC-1" {
		t.Errorf("notes = %q; want the paused job's ticks recorded skipped with the pause's who and why", c.notes)
	}
	if len(logs.find("job started", "job", "paused")) != 0 {
		t.Error("the paused job ran")
	}
	batches := len(logs.find("job finished", "job", "free"))
	if c.reads > batches+2 {
		t.Errorf("%d reads of the controls for %d tick batches; want one per batch", c.reads, batches)
	}
}

// TestControlsThatCannotBeReadRunNoLeaderOnlyJob: fail closed: a tick
// whose controls could not be read might be paused, so no leader-only job
// runs; an every-instance job still does; the ERROR says why.
func TestControlsThatCannotBeReadRunNoLeaderOnlyJob(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "# name: leader-only\n* * * * * * true\n# name: local\n[all] * * * * * * true\n")
	logs := newLogSink()
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	c := &fakeControls{read: func() (ControlView, error) { return nil, errors.New("ledger throttled") }}
	auth := &fakeAuthority{t: t, answer: func(gate.Job) (gate.Permit, error) { return gate.Permit{Run: true}, nil }}
	stop := startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: -1, Ledger: l, Controls: c})
	logs.waitN(t, 2, "job finished", "job", "local")
	stop()
	if len(logs.find("job started", "job", "leader-only")) != 0 {
		t.Error("a leader-only job ran while the controls could not be read")
	}
	if len(logs.find("the controls cannot be read: leader-only jobs are skipped until they can (a paused job must not run)")) == 0 {
		t.Error("no ERROR said why")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.claims) != 0 {
		t.Errorf("%d claims written while the controls could not be read", len(l.claims))
	}
}
