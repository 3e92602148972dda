package schedule

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/leadergate/leadergate/gate"
)

// fakeControls answers Read from a function and records the notes.
type fakeControls struct {
	mu     sync.Mutex
	read   func() (ControlView, error)
	reads  int
	notes  []string // job + " " + reason
	missed []time.Time
	lost   bool          // Note answers "someone else recorded it"
	noted  chan struct{} // a send per Note, when not nil
	// noteErr, when not nil, fails the Notes it returns an error for.
	noteErr func() error
	// settleNow: ticks settle at once (Settled is 0), as they do when
	// missed is set.
	settleNow bool
}

func (c *fakeControls) Read(context.Context) (ControlView, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.read()
}

func (c *fakeControls) Note(_ context.Context, job string, tick time.Time, missed bool, reason string) (bool, error) {
	if c.noteErr != nil {
		if err := c.noteErr(); err != nil {
			return false, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notes = append(c.notes, job+" "+reason)
	if c.noted != nil {
		c.noted <- struct{}{}
	}
	return !c.lost, nil
}

func (c *fakeControls) Settled(time.Duration) time.Duration {
	if c.missed != nil || c.settleNow {
		return 0
	}
	return time.Hour
}

func (c *fakeControls) Missed(_ context.Context, job string, _ func(time.Time) time.Time, _ time.Time) ([]time.Time, int, error) {
	if job != "billing" || len(c.missed) == 0 {
		return nil, 0, nil
	}
	return c.missed, 3, nil
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

// TestAHangingControlsReadDoesNotHoldBackEveryInstanceJobs: the controls
// are the ledger's, and only leader-only jobs obey them: while their read
// hangs, an every-instance job due at the same tick still starts.
func TestAHangingControlsReadDoesNotHoldBackEveryInstanceJobs(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "# name: leader-only\n* * * * * * true\n# name: local\n[all] * * * * * * true\n")
	logs := newLogSink()
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	release := make(chan struct{})
	c := &fakeControls{read: func() (ControlView, error) { <-release; return pausedView{}, nil }}
	auth := &fakeAuthority{t: t, answer: func(gate.Job) (gate.Permit, error) { return gate.Permit{Run: true}, nil }}
	stop := startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: -1, Ledger: l, Controls: c})
	logs.wait(t, "job started", "job", "local")
	if n := len(logs.find("job started", "job", "leader-only")); n != 0 {
		t.Errorf("a leader-only job started %d times before its controls were read", n)
	}
	close(release)
	logs.wait(t, "job started", "job", "leader-only")
	stop()
}

// TestTicksNotRunWhileTheLedgerWasDownAreRecordedWhenItAnswers: a tick
// whose claim failed (the ledger unreachable), or whose controls could not
// be read (fail closed), has no record; once the ledger answers, each is
// recorded missed with why and reported like a failed run, so that an
// outage's ticks are not silent in history.
func TestTicksNotRunWhileTheLedgerWasDownAreRecordedWhenItAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, why string
		readFails bool
	}{
		{"claims fail", "billing not run: the ledger could not be reached at its tick (DynamoDB: connection reset)", false},
		{"controls cannot be read", "billing not run: the controls could not be read at its tick, and a paused job must not run (DynamoDB: connection reset)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeCrontab(t, dir, "# name: billing\n* * * * * * true\n")
			logs := newLogSink()
			var down atomic.Bool
			down.Store(true)
			outage := errors.New("DynamoDB: connection reset")
			fail := func() error {
				if down.Load() {
					return outage
				}
				return nil
			}
			l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, fail() }}
			c := &fakeControls{
				read: func() (ControlView, error) {
					if tc.readFails {
						if err := fail(); err != nil {
							return nil, err
						}
					}
					return pausedView{}, nil
				},
				noteErr:   fail,
				settleNow: true,
			}
			h := &missedHooks{}
			stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Ledger: l, Controls: c, Hooks: h})
			skipped := "job skipped: the ledger cannot be reached, nothing runs"
			if tc.readFails {
				skipped = "job skipped: the controls cannot be read (fail closed)"
			}
			logs.waitN(t, 2, skipped, "job", "billing")
			down.Store(false)
			logs.waitN(t, 2, "job missed: not run at its tick, and recorded once the ledger answered", "job", "billing")
			stop()

			var notRun []string
			for _, r := range logs.find(skipped, "job", "billing") {
				notRun = append(notRun, r.Attrs["scheduled_at"])
			}
			h.mu.Lock()
			reported := map[string]bool{}
			for _, tick := range h.missed {
				reported[tick.Format(time.RFC3339)] = true
			}
			h.mu.Unlock()
			for _, at := range notRun[:2] {
				if !reported[at] {
					t.Errorf("the tick %s, not run while the ledger was down, was not reported missed (reported: %v)", at, reported)
				}
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.notes) < 2 || c.notes[0] != tc.why {
				t.Errorf("notes = %q; want each tick recorded with %q", c.notes, tc.why)
			}
		})
	}
}

// TestATickNotRunHereIsNotRecordedBeforeItSettles: a tick this instance
// could not claim may still be claimed and run by another instance (after
// the takeover delay and the jitter): it is not recorded missed before
// then, or the record would keep it from running.
func TestATickNotRunHereIsNotRecordedBeforeItSettles(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "# name: billing\n* * * * * * true\n")
	logs := newLogSink()
	var down atomic.Bool
	down.Store(true)
	l := &fakeLedger{answer: func(time.Time) (bool, error) {
		if down.Load() {
			return false, errors.New("DynamoDB: connection reset")
		}
		return true, nil
	}}
	c := &fakeControls{read: func() (ControlView, error) { return pausedView{}, nil }} // Settled: an hour
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Ledger: l, Controls: c})
	logs.wait(t, "job skipped: the ledger cannot be reached, nothing runs", "job", "billing")
	down.Store(false)
	logs.waitN(t, 2, "job finished", "job", "billing") // two batches read the controls since
	stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.notes) != 0 {
		t.Errorf("notes = %q; a tick was recorded before it settled", c.notes)
	}
	if n := len(logs.find("job missed: not run at its tick, and not recorded before the scheduler stopped")); n == 0 {
		t.Error("stopping with a tick not recorded said nothing")
	}
}

// TestALongReasonIsCutWhereACharacterStarts: the reason a tick did not run
// (an error that can be long) is kept in its record, which DynamoDB only
// takes as UTF-8: it is cut to 300 bytes where a character starts.
func TestALongReasonIsCutWhereACharacterStarts(t *testing.T) {
	r := &runner{opts: Options{Controls: &fakeControls{}}}
	r.remember(Job{Name: "billing"}, t0, "x"+strings.Repeat("é", 200)) // 401 bytes: byte 300 is inside an é
	got := r.unrecorded.ticks[0].reason
	if !utf8.ValidString(got) || len(got) > 300+len("…") || !strings.HasSuffix(got, "é…") {
		t.Errorf("reason cut to %q (%d bytes), want valid UTF-8 of at most 300 bytes and an ellipsis", got, len(got))
	}
}

// missedHooks records what the hooks heard of ticks not run.
type missedHooks struct {
	NopHooks
	mu      sync.Mutex
	missed  []time.Time
	skipped []string
}

func (h *missedHooks) Missed(j Job, tick time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.missed = append(h.missed, tick)
}

func (h *missedHooks) Skipped(j Job, tick time.Time, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.skipped = append(h.skipped, tick.Format(time.RFC3339)+" "+reason)
}

type pausedAt struct{ tick time.Time }

func (v pausedAt) Paused(job string, tick time.Time) (string, bool) {
	return "paused by ann", tick.Equal(v.tick)
}
func (pausedAt) Requests(time.Time) []Request { return nil }

// TestTicksNobodyRanAreRecordedAndReportedByTheInstanceThatRecordsThem: at
// start, each tick nobody ran is recorded missed and reported (Hooks.Missed
// and one ERROR line) by the instance whose write won, one covered by a
// pause is recorded skipped and not reported as missed, older ones beyond
// the limit are counted in one ERROR line; an instance whose write lost
// reports nothing.
func TestTicksNobodyRanAreRecordedAndReportedByTheInstanceThatRecordsThem(t *testing.T) {
	t1 := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)
	for _, lost := range []bool{false, true} {
		dir := t.TempDir()
		path := writeCrontab(t, dir, "# name: billing\n0 * * * * true\n")
		logs := newLogSink()
		l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
		c := &fakeControls{read: func() (ControlView, error) { return pausedAt{t2}, nil }, missed: []time.Time{t1, t2, t3}, lost: lost, noted: make(chan struct{}, 10)}
		h := &missedHooks{}
		stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Ledger: l, Controls: c, Hooks: h})
		logs.wait(t, "job missed more ticks than are recorded one by one: no instance ran them (every scheduler was down)")
		for range 3 {
			select {
			case <-c.noted:
			case <-time.After(wait):
				t.Fatal("the three ticks nobody ran were not recorded")
			}
		}
		stop()
		h.mu.Lock()
		missed, skipped := h.missed, h.skipped
		h.mu.Unlock()
		reports := len(logs.find("job missed: no instance ran it and none recorded why (every scheduler was down across it)"))
		switch {
		case lost && (len(missed) != 0 || len(skipped) != 0 || reports != 0):
			t.Errorf("an instance whose writes lost reported %v missed, %v skipped, %d ERROR lines; want nothing", missed, skipped, reports)
		case !lost && (len(missed) != 2 || !missed[0].Equal(t1) || !missed[1].Equal(t3) || reports != 2):
			t.Errorf("missed reports %v (%d ERROR lines); want %s and %s", missed, reports, t1, t3)
		case !lost && (len(skipped) != 1 || skipped[0] != t2.Format(time.RFC3339)+" paused"):
			t.Errorf("skipped %v; want the paused tick %s", skipped, t2)
		}
		c.mu.Lock()
		if want := "billing paused by ann"; c.notes[1] != want {
			t.Errorf("the paused tick was recorded with %q; want %q", c.notes[1], want)
		}
		c.mu.Unlock()
	}
}
