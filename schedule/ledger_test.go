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
	stopped  []bool // per finish: the run was stopped by shutdown or a drain
	jitters  []time.Duration
	holds    int
	answer   func(tick time.Time) (bool, error) // won?
	lost     bool                               // every claim finds a lost run
	catchUp  func(j Job, now time.Time) (time.Time, bool, error)
	jobs     map[string]Job // by name, for catchUp
}

func (l *fakeLedger) Take(ctx context.Context, req gate.TurnRequest) (gate.Claim, error) {
	l.mu.Lock()
	l.claims = append(l.claims, req.Job.Tick)
	l.leader = append(l.leader, req.Leader)
	l.jitters = append(l.jitters, req.Jitter)
	l.mu.Unlock()
	won, err := l.answer(req.Job.Tick)
	switch {
	case err != nil:
		return gate.Claim{}, err
	case !won:
		return gate.Claim{Result: ClaimTakenElsewhere, Lost: l.lostRun()}, nil
	case !req.Slot.TryTake():
		return gate.Claim{Busy: true}, nil
	case !req.Leader:
		return gate.Claim{Held: fakeHeld{l}, Result: ClaimTakenOver, Lost: l.lostRun()}, nil
	}
	return gate.Claim{Held: fakeHeld{l}, Result: ClaimWon, Lost: l.lostRun()}, nil
}

func (l *fakeLedger) Look(ctx context.Context, req gate.TurnRequest) (gate.Claim, error) {
	return gate.Claim{}, errors.New("fakeLedger: Look is for dry runs")
}

func (l *fakeLedger) Orphans(context.Context, []string) ([]gate.Job, error) { return nil, nil }

// lostRun is what every claim says it found lost, when l.lost.
func (l *fakeLedger) lostRun() *gate.LostRun {
	if !l.lost {
		return nil
	}
	return &gate.LostRun{RunID: "lost-run", Attempt: 1}
}

func (l *fakeLedger) CatchUp(ctx context.Context, job string, next func(time.Time) time.Time, now time.Time, window time.Duration) (time.Time, bool, error) {
	if l.catchUp == nil {
		return time.Time{}, false, nil
	}
	return l.catchUp(Job{Name: job, Schedule: scheduleFunc(next), CatchUp: window}, now)
}

type scheduleFunc func(time.Time) time.Time

func (f scheduleFunc) Next(t time.Time) time.Time { return f(t) }

type fakeHeld struct{ l *fakeLedger }

func (h fakeHeld) RunID() string { return "g#j@T/7" }
func (h fakeHeld) Fence() int64  { return 7 }
func (h fakeHeld) Hold(ctx context.Context, grace time.Duration) (context.Context, func(gate.End) error) {
	h.l.mu.Lock()
	h.l.holds++
	h.l.mu.Unlock()
	return ctx, func(end gate.End) error {
		h.l.mu.Lock()
		h.l.finished = append(h.l.finished, end.Code)
		h.l.stopped = append(h.l.stopped, end.Stopped)
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
	askedAt := make(chan struct{}, 10) // a send per catch-up pass
	l := &fakeLedger{
		answer: func(time.Time) (bool, error) { return true, nil },
		catchUp: func(j Job, n time.Time) (time.Time, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			asked++
			askedAt <- struct{}{}
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
	// The start's catch-up pass, an event: waiting on the clock for the
	// loop's next tick was met by the refresh's earlier wait, sometimes
	// before the pass had run (a failure under -race).
	select {
	case <-askedAt:
	case <-time.After(wait):
		t.Fatal("no catch-up pass at start")
	}
	clock.WaitFor(t, t0.Add(10*time.Second)) // the refresh waits
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

// startedHooks records the runs the hooks heard start.
type startedHooks struct {
	NopHooks
	mu   sync.Mutex
	runs []RunInfo
}

func (h *startedHooks) Started(r RunInfo) {
	h.mu.Lock()
	h.runs = append(h.runs, r)
	h.mu.Unlock()
}

// TestOneRunNameForTheJobTheLogsAndTheHooks: under a ledger claim, a
// CRON_TZ=Europe/Berlin job sees its tick in Berlin time (as docs/
// operations.md says) and the claim's run id and fence, and the logs and
// the hooks (pings, the failure hook, history) name the same run. Before,
// the ledger's variables came last and won: the job saw UTC and a run id
// that differed from the logs'.
func TestOneRunNameForTheJobTheLogsAndTheHooks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	path := writeCrontab(t, dir, "CRON_TZ=Europe/Berlin\n# name: report\n0 4 * * * echo \"$LEADERGATE_JOB $LEADERGATE_SCHEDULED_AT $LEADERGATE_RUN_ID $LEADERGATE_FENCE $LEADERGATE_ATTEMPT\" > "+out+"\n")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	tick := time.Date(2026, 3, 14, 4, 0, 0, 0, berlin) // 03:00 UTC
	clock := newFakeClock(tick.Add(-time.Minute))
	logs := newLogSink()
	hooks := &startedHooks{}
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Ledger: l, Hooks: hooks})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, tick)
	started := logs.wait(t, "job started")
	logs.wait(t, "job finished")
	stop()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "report 2026-03-14T04:00:00+01:00 g#j@T/7 7 1\n"
	if string(b) != want {
		t.Errorf("the job saw %q, want %q", b, want)
	}
	if id := started.Attrs["run_id"]; id != "g#j@T/7" {
		t.Errorf("the log's run_id %q, want the claim's g#j@T/7", id)
	}
	if at := started.Attrs["scheduled_at"]; at != "2026-03-14T04:00:00+01:00" {
		t.Errorf("the log's scheduled_at %q", at)
	}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if len(hooks.runs) != 1 || hooks.runs[0].ID != "g#j@T/7" || hooks.runs[0].Fence != 7 {
		t.Errorf("the hooks heard %+v, want the claim's run id and fence", hooks.runs)
	}
}

// TestWithALedgerTheJitterIsWaitedBeforeTheClaim: "# jitter:" is handed to
// the ledger's turn, which waits it out before claiming (and makes the
// others wait its bound on top of the takeover delay); the run starts as
// soon as the claim is won. Before, the claim came at the tick and the
// jitter after it, with no lease renewed meanwhile: a jitter longer than
// the lease let another instance take the tick over and the run was killed
// midway.
func TestWithALedgerTheJitterIsWaitedBeforeTheClaim(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: spread\n# jitter: 2m\n0 3 * * * true\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Ledger: l})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, at03)
	logs.wait(t, "job finished") // no clock move after the claim: no jitter after it
	stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.jitters) != 1 || l.jitters[0] != 2*time.Minute {
		t.Errorf("the turn was asked with jitter %v, want the job's 2m", l.jitters)
	}
}

// TestARunStoppedByShutdownLetsItsClaimGo: a run stopped by the
// scheduler's shutdown (a deploy's SIGTERM) ends its claim as stopped, so
// that the ledger lets the lease go for a rerun rather than recording it
// failed (as it did, with exit 143).
func TestARunStoppedByShutdownLetsItsClaimGo(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: long\n0 3 * * * sleep 300\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	l := &fakeLedger{answer: func(time.Time) (bool, error) { return true, nil }}
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Ledger: l, Grace: time.Second})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, at03)
	logs.wait(t, "job started")
	stop()
	logs.wait(t, "job stopped by shutdown")
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.stopped) != 1 || !l.stopped[0] {
		t.Errorf("ends recorded as stopped: %v, want one, stopped", l.stopped)
	}
}
