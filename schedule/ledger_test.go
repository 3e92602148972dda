package schedule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// fakeLedger answers claims from a function and records what it was asked.
type fakeLedger struct {
	mu       sync.Mutex
	claims   []time.Time
	leader   []bool
	finished []int
	holds    int
	answer   func(tick time.Time) (bool, error) // won?
	lost     bool                               // every claim finds a lost run
	catchUp  func(j Job, now time.Time) (time.Time, bool, error)
}

func (l *fakeLedger) Claim(ctx context.Context, j Job, tick time.Time, leader bool, slot Slot) (Claim, error) {
	l.mu.Lock()
	l.claims = append(l.claims, tick)
	l.leader = append(l.leader, leader)
	l.mu.Unlock()
	won, err := l.answer(tick)
	switch {
	case err != nil:
		return Claim{}, err
	case !won:
		return Claim{Result: ClaimTakenElsewhere, Lost: l.lostRun()}, nil
	case !slot.Take():
		return Claim{}, nil
	case !leader:
		return Claim{Held: fakeHeld{l}, Result: ClaimTakenOver, Lost: l.lostRun()}, nil
	}
	return Claim{Held: fakeHeld{l}, Result: ClaimWon, Lost: l.lostRun()}, nil
}

// lostRun is what every claim says it found lost, when l.lost.
func (l *fakeLedger) lostRun() *RunInfo {
	if !l.lost {
		return nil
	}
	return &RunInfo{ID: "lost-run", Attempt: 1}
}

func (l *fakeLedger) CatchUp(ctx context.Context, j Job, now time.Time) (time.Time, bool, error) {
	if l.catchUp == nil {
		return time.Time{}, false, nil
	}
	return l.catchUp(j, now)
}

type fakeHeld struct{ l *fakeLedger }

func (h fakeHeld) Env() []string { return []string{"LEADERGATE_FENCE=7"} }
func (h fakeHeld) Hold(ctx context.Context) (context.Context, func(int) error) {
	h.l.mu.Lock()
	h.l.holds++
	h.l.mu.Unlock()
	return ctx, func(code int) error {
		h.l.mu.Lock()
		h.l.finished = append(h.l.finished, code)
		h.l.mu.Unlock()
		return nil
	}
}

func TestWithALedgerAFailedElectionStillClaimsAndTheJobSeesItsFence(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	path := writeCrontab(t, dir, "* * * * * * echo $LEADERGATE_FENCE >> "+out+"; exit 4\n")
	logs := newLogSink()
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	auth := &fakeAuthority{t: t, answer: func(gate.Job) (gate.Permit, error) { return gate.Permit{}, errors.New("EC2 throttled") }}
	stop := startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: -1, Ledger: l})
	logs.wait(t, "job failed")
	stop()
	b, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(b), "7\n") {
		t.Errorf("the job saw LEADERGATE_FENCE %q, want the ledger's 7", b)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.leader) == 0 || l.leader[0] || len(l.finished) == 0 || l.finished[0] != 4 {
		t.Errorf("claims as leader %v, finished %v; want a follower's claim and the exit 4 recorded", l.leader, l.finished)
	}
	if len(logs.find("election failed; the ledger decides after the takeover delay")) == 0 {
		t.Error("the failed election was not logged")
	}
}

func TestWithALedgerATakenOrUnreachableTickRunsNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		msg  string
	}{
		{"taken", nil, ""},
		{"unreachable", errors.New("throttled"), "job skipped: the ledger cannot be reached, nothing runs"},
	} {
		dir := t.TempDir()
		path := writeCrontab(t, dir, "* * * * * * echo ran\n")
		logs := newLogSink()
		seen := make(chan struct{}, 100)
		l := &fakeLedger{answer: func(time.Time) (bool, error) { seen <- struct{}{}; return false, tc.err }}
		stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Ledger: l})
		<-seen
		<-seen
		stop()
		if n := len(logs.find("job started")); n != 0 {
			t.Errorf("%s: %d runs, want none", tc.name, n)
		}
		if tc.msg != "" && len(logs.find(tc.msg)) == 0 {
			t.Errorf("%s: no %q in the log: %s", tc.name, tc.msg, logs)
		}
	}
}

func TestCatchUpRunsTheMissedTickOnceAtStart(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "# name: nightly\n# catch-up: 6h\n0 3 * * * echo $LEADERGATE_SCHEDULED_AT\n0 4 * * * echo no-catch-up\n")
	now := time.Date(2026, 3, 14, 5, 30, 0, 0, time.Local)
	missed := time.Date(2026, 3, 14, 3, 0, 0, 0, time.Local)
	clock := newFakeClock(now)
	logs := newLogSink()
	var asked []string
	var mu sync.Mutex
	l := &fakeLedger{
		answer: func(time.Time) (bool, error) { return true, nil },
		catchUp: func(j Job, n time.Time) (time.Time, bool, error) {
			mu.Lock()
			asked = append(asked, j.Name)
			mu.Unlock()
			if j.CatchUp != 6*time.Hour || !n.Equal(now) {
				t.Errorf("catch-up asked with window %s at %s", j.CatchUp, n)
			}
			return missed, true, nil
		},
	}
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Ledger: l, Clock: clock})
	started := logs.wait(t, "job started")
	logs.wait(t, "job finished")
	stop()
	if started.Attrs["scheduled_at"] != missed.Format(time.RFC3339) {
		t.Errorf("caught-up run scheduled at %s, want %s", started.Attrs["scheduled_at"], missed.Format(time.RFC3339))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != "nightly" {
		t.Errorf("catch-up asked for %v, want only the job with # catch-up", asked)
	}
	if n := len(logs.find("job started")); n != 1 {
		t.Errorf("%d runs, want the one caught-up tick", n)
	}
}

// TestWithALedgerRetriesRunInsideTheOneClaim: "# retry: 2 backoff 10s"
// under a ledger claim runs a failing job three times, LEADERGATE_ATTEMPT
// 1, 2, 3, under one claim held across the attempts, and records one end:
// the last attempt's.
func TestWithALedgerRetriesRunInsideTheOneClaim(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: flaky\n# retry: 2 backoff 10s\n0 3 * * * echo \"attempt=$LEADERGATE_ATTEMPT\"; exit $((6 + LEADERGATE_ATTEMPT))\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Ledger: l})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, at03)
	logs.waitN(t, 1, "job will run again", "job", "flaky")
	clock.Advance(t, at03.Add(10*time.Second))
	logs.waitN(t, 2, "job will run again", "job", "flaky")
	clock.Advance(t, at03.Add(30*time.Second))
	logs.waitN(t, 3, "job failed", "job", "flaky")
	stop()
	for n := 1; n <= 3; n++ {
		logs.wait(t, MsgJobOutput, "line", "attempt="+strconv.Itoa(n))
	}
	if n := len(logs.find("job started", "job", "flaky")); n != 3 {
		t.Errorf("%d runs, want 3", n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.claims) != 1 || l.holds != 1 {
		t.Errorf("%d claims, held %d times; want one claim held once across the attempts", len(l.claims), l.holds)
	}
	if len(l.finished) != 1 || l.finished[0] != 9 {
		t.Errorf("ends recorded %v, want one: the last attempt's exit 9", l.finished)
	}
}

// TestCatchUpRunsAgainOnBecomingLeader: a follower that becomes leader (its
// election result changes at a refresh) runs the catch-up pass again, once:
// a later refresh that keeps it leader does not.
func TestCatchUpRunsAgainOnBecomingLeader(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: nightly\n# catch-up: 6h\n0 4 * * * echo $LEADERGATE_SCHEDULED_AT\n")
	missed := time.Date(2025, 11, 24, 4, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0)
	logs := newLogSink()
	var leader atomic.Bool
	var mu sync.Mutex
	asked := 0
	l := &fakeLedger{
		answer: func(time.Time) (bool, error) { return true, nil },
		catchUp: func(j Job, n time.Time) (time.Time, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			asked++
			// Nothing missed at start; the tick a leader that went away
			// missed is there once this instance becomes leader.
			return missed, asked > 1, nil
		},
	}
	auth := &fakeAuthority{t: t, answer: func(gate.Job) (gate.Permit, error) {
		return gate.Permit{Run: leader.Load(), Reason: "test"}, nil
	}}
	stop := startRun(t, Options{File: path, Authority: auth, Logger: logs.logger(), Refresh: 10 * time.Second, Ledger: l, Clock: clock})
	logs.wait(t, "this instance is a follower")
	clock.WaitFor(t, t0.Add(10*time.Second))                        // the refresh waits
	clock.WaitFor(t, time.Date(2025, 11, 25, 4, 0, 0, 0, time.UTC)) // the loop runs: the start's catch-up is done
	mu.Lock()
	if asked != 1 {
		t.Errorf("catch-up asked %d times at start, want 1", asked)
	}
	mu.Unlock()
	if n := len(logs.find("job started")); n != 0 {
		t.Errorf("%d runs before becoming leader, want none", n)
	}
	leader.Store(true)
	clock.Advance(t, t0.Add(10*time.Second))
	logs.wait(t, "became leader")
	started := logs.wait(t, "job started")
	logs.wait(t, "job finished")
	if started.Attrs["scheduled_at"] != missed.Format(time.RFC3339) {
		t.Errorf("caught-up run scheduled at %s, want %s", started.Attrs["scheduled_at"], missed.Format(time.RFC3339))
	}
	clock.Advance(t, t0.Add(20*time.Second))
	clock.WaitFor(t, t0.Add(30*time.Second)) // that refresh is done
	stop()
	mu.Lock()
	defer mu.Unlock()
	if asked != 2 {
		t.Errorf("catch-up asked %d times, want 2: at start and on becoming leader", asked)
	}
	if n := len(logs.find("job started")); n != 1 {
		t.Errorf("%d runs, want the one caught-up tick", n)
	}
}

// ledgerEvents records the ledger's hooks, in order.
type ledgerEvents struct {
	NopHooks
	mu  sync.Mutex
	got []string
}

func (e *ledgerEvents) add(s string) {
	e.mu.Lock()
	e.got = append(e.got, s)
	e.mu.Unlock()
}

func (e *ledgerEvents) Claimed(j Job, tick time.Time, result string) {
	e.add("claimed " + j.Name + " " + tick.UTC().Format(time.RFC3339) + " " + result)
}
func (e *ledgerEvents) LostRun(r RunInfo) {
	e.add("lost " + r.Job.Name + " " + r.Tick.UTC().Format(time.RFC3339))
}
func (e *ledgerEvents) CaughtUp(j Job, tick time.Time) {
	e.add("caught up " + j.Name + " " + tick.UTC().Format(time.RFC3339))
}

func (e *ledgerEvents) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// TestTheHooksHearTheLedgersAnswers: the scheduler passes on what the
// ledger's Claim said (its result, a lost run found) and a caught-up tick
// once it is claimed here; a tick taken elsewhere is no catch-up here, and
// an unreachable ledger or a tick this instance's previous run keeps it
// from claiming reports no claim at all.
func TestTheHooksHearTheLedgersAnswers(t *testing.T) {
	const missed = "2026-03-14T03:00:00Z"
	for _, tc := range []struct {
		name   string
		leader bool
		won    bool
		lost   bool
		err    error
		want   []string
	}{
		{name: "the leader wins a missed tick", leader: true, won: true,
			want: []string{"claimed nightly " + missed + " won", "caught up nightly " + missed}},
		{name: "a follower takes a missed tick over", won: true,
			want: []string{"claimed nightly " + missed + " taken_over", "caught up nightly " + missed}},
		{name: "a missed tick rerun after its run was lost", won: true, lost: true,
			want: []string{"lost nightly " + missed, "claimed nightly " + missed + " taken_over", "caught up nightly " + missed}},
		{name: "a missed tick taken elsewhere, its run found lost", leader: true, lost: true,
			want: []string{"lost nightly " + missed, "claimed nightly " + missed + " taken_elsewhere"}},
		{name: "an unreachable ledger", leader: true, err: errors.New("throttled")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: nightly\n# catch-up: 6h\n0 3 * * * true\n")
			logs := newLogSink()
			asked := make(chan struct{}, 1)
			l := &fakeLedger{
				answer: func(time.Time) (bool, error) { asked <- struct{}{}; return tc.won, tc.err },
				lost:   tc.lost,
				catchUp: func(Job, time.Time) (time.Time, bool, error) {
					return time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC), true, nil
				},
			}
			ev := &ledgerEvents{}
			clock := newFakeClock(time.Date(2026, 3, 14, 5, 30, 0, 0, time.UTC))
			stop := startRun(t, Options{File: path, Authority: gate.Assume(tc.leader), Logger: logs.logger(), Refresh: -1,
				Ledger: l, Clock: clock, Hooks: ev})
			<-asked
			if tc.won {
				logs.wait(t, "job finished")
			} else {
				logs.wait(t, "job skipped: "+map[bool]string{true: "the ledger cannot be reached, nothing runs", false: "the tick is taken"}[tc.err != nil])
			}
			stop()
			if got := ev.all(); !slices.Equal(got, tc.want) {
				t.Errorf("the hooks heard %q, want %q", got, tc.want)
			}
		})
	}
}

// TestATickItsPreviousRunKeepsFromClaimingIsNoClaim: with the previous run
// still going here, nothing is claimed, and no claim is reported.
func TestATickItsPreviousRunKeepsFromClaimingIsNoClaim(t *testing.T) {
	dir := t.TempDir()
	release := filepath.Join(dir, "release")
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: slow\n* * * * * * while [ ! -e "+release+" ]; do sleep 0.05; done\n")
	logs := newLogSink()
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	ev := &ledgerEvents{}
	clock := newFakeClock(t0)
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Ledger: l, Clock: clock, Hooks: ev})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, t0.Truncate(time.Second).Add(time.Second))
	logs.wait(t, "job started")
	clock.Advance(t, t0.Truncate(time.Second).Add(2*time.Second))
	logs.wait(t, "job skipped: its previous run is still running")
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, "job finished")
	stop()
	first := t0.Truncate(time.Second).Add(time.Second).UTC().Format(time.RFC3339)
	if got, want := ev.all(), []string{"claimed slow " + first + " won"}; !slices.Equal(got, want) {
		t.Errorf("the hooks heard %q, want %q: the tick that could not be claimed is no claim", got, want)
	}
}
