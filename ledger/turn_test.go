package ledger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

const testTimeout = 10 * time.Second

func newTurn(store Store, c *clocktest.Manual, owner string) *Turn {
	return &Turn{Ledger: &Ledger{Store: store, Owner: owner, Clock: c, Lease: time.Minute, Timeout: testTimeout}, Group: "e-abc123", Takeover: 15 * time.Second}
}

type taken struct {
	c   gate.Claim
	err error
}

func take(t *Turn, req gate.TurnRequest) <-chan taken {
	got := make(chan taken, 1)
	go func() {
		c, err := t.Take(context.Background(), req)
		got <- taken{c, err}
	}()
	return got
}

func wait(t *testing.T, ch <-chan taken) taken {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(testTimeout):
		t.Fatal("no answer from Take")
	}
	return taken{}
}

// TestLostRunIsRecordedWhileTheNextTickHoldsTheSlot: a follower that saw a
// tick running elsewhere looks again at the end of its lease, to record it
// lost if its instance died. By then this instance may be running the
// job's next tick, which holds the job's overlap slot: the look, which
// never runs anything, must not need it (nor say the job was skipped).
func TestLostRunIsRecordedWhileTheNextTickHoldsTheSlot(t *testing.T) {
	clk := clocktest.New(tick.Add(20 * time.Second)) // past the takeover delay
	store := &Memory{Now: clk.Now}
	k := Key{Group: "e-abc123", Job: "sweep", Tick: tick}
	running := Record{Key: k, Owner: "i-other", State: Running, Fence: 1, Attempt: 1, LeaseUntil: tick.Add(time.Minute), Started: tick}
	if err := store.Create(context.Background(), running); err != nil {
		t.Fatal(err)
	}
	var takes, busy int
	slot := gate.Slot{
		Take: func() bool {
			takes++
			if takes > 1 { // the next tick runs here by the end of the lease
				busy++
				return false
			}
			return true
		},
		Release: func() {},
	}
	got := take(newTurn(store, clk, "i-self"), gate.TurnRequest{Job: gate.Job{Name: "sweep", Tick: tick}, Watch: true, Slot: slot})
	clk.Advance(t, running.LeaseUntil.Add(time.Second)) // the other instance died: no renewal came
	a := wait(t, got)
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.c.Held != nil || a.c.Lost == nil || a.c.Lost.RunID != running.RunID() {
		t.Errorf("claim = %+v; want nothing to run here and the run %s found lost", a.c, running.RunID())
	}
	if busy != 0 {
		t.Errorf("the look at the end of the lease asked for the busy slot %d time(s)", busy)
	}
	if r, _, _ := store.Get(context.Background(), k); r.State != Lost {
		t.Errorf("record after the look: %s, want lost", r.State)
	}
}

// TestABusyTurnRecordsTheTickSkippedSoNobodyTakesItOver: the leader whose
// previous run of the job still runs records the tick skipped, with one
// write; a follower after the takeover delay then finds it taken and runs
// nothing. Before, the leader wrote nothing and a follower ran the tick
// beside the run still going: two runs at once where without the ledger
// there were none.
func TestABusyTurnRecordsTheTickSkippedSoNobodyTakesItOver(t *testing.T) {
	clk := clocktest.New(tick.Add(-time.Second))
	store := &Memory{}
	busy := gate.Slot{Take: func() bool { return false }}
	leader := take(newTurn(store, clk, "i-leader"), gate.TurnRequest{Job: gate.Job{Name: "billing", Tick: tick}, Leader: true, Slot: busy})
	follower := take(newTurn(store, clk, "i-follower"), gate.TurnRequest{Job: gate.Job{Name: "billing", Tick: tick}})
	clk.Advance(t, tick)
	l := wait(t, leader)
	if l.err != nil || l.c.Held != nil || !l.c.Busy || l.c.Result != "" || l.c.Skipped == "" {
		t.Fatalf("the busy leader's turn = %+v, %v; want nothing run, busy, no claim result", l.c, l.err)
	}
	clk.Advance(t, tick.Add(15*time.Second))
	f := wait(t, follower)
	if f.err != nil || f.c.Held != nil || f.c.Result != gate.ClaimTakenElsewhere {
		t.Fatalf("the follower's turn = %+v, %v; want the tick taken elsewhere (skipped)", f.c, f.err)
	}
	if c, g := store.Calls("Create"), store.Calls("Get"); c != 1 || g != 1 {
		t.Errorf("calls: Create %d, Get %d; want the leader's one write and the follower's one read", c, g)
	}
	r, _, _ := store.Get(context.Background(), key())
	if r.State != Skipped || r.Owner != "i-leader" || r.Reason == "" {
		t.Errorf("record %+v; want skipped by i-leader, with why", r)
	}
}

// TestJitterAndTakeoverCompose: with "# jitter: 1m", the leader claims
// after its own random delay (here 50 s); the others wait the tick, the
// whole jitter bound and the takeover delay, so they never take a tick
// the leader has not started yet. Before, followers claimed at the
// takeover delay whatever the jitter.
func TestJitterAndTakeoverCompose(t *testing.T) {
	clk := clocktest.New(tick.Add(-time.Second))
	store := &Memory{}
	lt := newTurn(store, clk, "i-leader")
	lt.Rand = func(d time.Duration) time.Duration { return 50 * time.Second }
	req := gate.TurnRequest{Job: gate.Job{Name: "billing", Tick: tick}, Jitter: time.Minute}
	leaderReq := req
	leaderReq.Leader = true
	ft := newTurn(store, clk, "i-follower")
	if at := lt.At(leaderReq); !at.Equal(tick.Add(50 * time.Second)) {
		t.Errorf("the leader claims at %s, want after its jitter, tick + 50s", at)
	}
	if at := ft.At(req); !at.Equal(tick.Add(75 * time.Second)) {
		t.Errorf("a follower claims at %s, want tick + the jitter bound (1m) + the takeover delay (15s)", at)
	}
	leader := take(lt, leaderReq)
	follower := take(ft, req)
	clk.Advance(t, tick.Add(50*time.Second))
	l := wait(t, leader)
	if l.err != nil || l.c.Held == nil {
		t.Fatalf("leader = %+v, %v; want the tick claimed after its jitter", l.c, l.err)
	}
	_, finish := l.c.Held.Hold(context.Background(), time.Second)
	clk.Set(tick.Add(60 * time.Second))
	if err := finish(gate.End{}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(t, tick.Add(75*time.Second))
	if f := wait(t, follower); f.err != nil || f.c.Held != nil {
		t.Fatalf("follower = %+v, %v; want the tick taken", f.c, f.err)
	}
}

// TestARunStoppedByShutdownIsRerunByASchedulerThatStartsLater: a deploy's
// SIGTERM stops a run; its claim is let go (not recorded failed), so that
// a scheduler that starts afterwards, which never saw the tick, finds it
// with Orphans and reruns it (fence 2) for a job that may run twice, or
// records it lost for one that may not.
func TestARunStoppedByShutdownIsRerunByASchedulerThatStartsLater(t *testing.T) {
	for _, rerun := range []bool{true, false} {
		clk := clocktest.New(tick)
		store := &Memory{}
		old := newTurn(store, clk, "i-old")
		c := wait(t, take(old, gate.TurnRequest{Job: gate.Job{Name: "billing", Tick: tick}, Leader: true}))
		if c.c.Held == nil {
			t.Fatal(c)
		}
		_, finish := c.c.Held.Hold(context.Background(), time.Second)
		clk.Set(tick.Add(20 * time.Second))
		if err := finish(gate.End{Code: 143, Stopped: true}); err != nil {
			t.Fatal(err)
		}
		if r, _, _ := store.Get(context.Background(), key()); r.State != Running || !r.Expired(clk.Now()) || r.AsOf(clk.Now()).State != Lost {
			t.Fatalf("record after a stop by shutdown: %+v; want its lease let go (read as lost), not failed", r)
		}
		clk.Set(tick.Add(time.Hour)) // every instance replaced; a new one starts
		fresh := newTurn(store, clk, "i-new")
		found, err := fresh.Orphans(context.Background(), []string{"billing"})
		if err != nil || len(found) != 1 || found[0].Name != "billing" || !found[0].Tick.Equal(tick) {
			t.Fatalf("orphans = %v, %v; want the stopped run", found, err)
		}
		got := wait(t, take(fresh, gate.TurnRequest{Job: found[0], Recover: true, RerunLost: rerun}))
		r, _, _ := store.Get(context.Background(), key())
		switch {
		case rerun && (got.c.Held == nil || got.c.Held.Fence() != 2 || got.c.Lost == nil || r.Owner != "i-new"):
			t.Errorf("on-lost rerun: turn %+v, record %+v; want a rerun here, fence 2", got.c, r)
		case !rerun && (got.c.Held != nil || got.c.Lost == nil || r.State != Lost):
			t.Errorf("no rerun: turn %+v, record %+v; want it recorded lost and reported", got.c, r)
		}
	}
}

// TestAHolderThatCannotRenewStopsItsJobGraceBeforeTheLeaseEnds: renewals
// that do not get through stop the job at the lease's end minus the grace
// period (SIGTERM then, SIGKILL at the lease's end), so that it is gone
// before another instance may rerun it (a second after the lease). Before,
// the job got SIGTERM at the lease's end and ran on through its grace
// beside the rerun.
func TestAHolderThatCannotRenewStopsItsJobGraceBeforeTheLeaseEnds(t *testing.T) {
	clk := clocktest.New(tick)
	store := &Memory{}
	l := &Ledger{Store: store, Owner: "i-a", Clock: clk, Lease: time.Minute, Timeout: time.Second}
	c, err := l.Claim(context.Background(), key(), ClaimOptions{})
	if err != nil || c.Outcome != Won {
		t.Fatal(c, err)
	}
	store.Err = func(op string) error {
		if op == "Swap" {
			return tempFail(errors.New("connection refused"), "")
		}
		return nil
	}
	grace := 30 * time.Second
	held, _ := c.Run.Hold(context.Background(), grace)
	every := c.Run.RenewEvery(grace)
	clk.Advance(t, tick.Add(every)) // the first renewal fails
	stopBy := tick.Add(time.Minute - grace)
	clk.Advance(t, tick.Add(every+time.Second)) // and its retry
	clk.Set(stopBy)
	select {
	case <-held.Done():
	case <-time.After(clocktest.Bound):
		t.Fatalf("at %s (lease until %s, grace %s) the job was not stopped", stopBy, tick.Add(time.Minute), grace)
	}
	if err := context.Cause(held); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("cause %v", err)
	}
}

// TestTheEndIsRecordedThroughABlip: the finishing write fails three times
// (a DynamoDB blip) and is retried within the lease, not given up after
// the SDK's three attempts in a tenth of a second: the run is recorded
// succeeded, so that nobody reruns a completed job or shows it lost.
func TestTheEndIsRecordedThroughABlip(t *testing.T) {
	store := &Memory{}
	run := claimReal(t, store, time.Minute)
	fails := 3
	store.Err = func(op string) error {
		if op == "Swap" && fails > 0 {
			fails--
			return tempFail(errors.New("InternalServerError"), "")
		}
		return nil
	}
	_, finish := run.Hold(context.Background(), time.Second)
	if err := finish(gate.End{Code: 0}); err != nil {
		t.Fatalf("finish = %v", err)
	}
	if r, _, _ := store.Get(context.Background(), run.Record().Key); r.State != Succeeded {
		t.Errorf("record %+v, want succeeded", r)
	}
}

// lossy is a Store whose chosen write is applied once and its answer lost.
type lossy struct {
	Store
	op   string
	done bool
}

func (s *lossy) lose(op string, err error) error {
	if err == nil && op == s.op && !s.done {
		s.done = true
		return tempFail(errors.New("connection reset by peer"), "")
	}
	return err
}

func (s *lossy) Create(ctx context.Context, r Record) error {
	return s.lose("Create", s.Store.Create(ctx, r))
}

func (s *lossy) Swap(ctx context.Context, prev, r Record) error {
	return s.lose("Swap", s.Store.Swap(ctx, prev, r))
}

// TestAWriteWhoseAnswerIsLostIsRecognisedAsOwn: the claim (leader or
// follower, a server that returns the refused item or not) and a rerun are
// applied but answered with an error; the retry finds the record with this
// turn's owner and token and runs the tick. Before, the retry found the
// tick "taken" by its own record and nobody ran it.
func TestAWriteWhoseAnswerIsLostIsRecognisedAsOwn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leader bool
		hide   bool
		seed   *Record
		op     string
	}{
		{name: "the leader's claim", leader: true, op: "Create"},
		{name: "the leader's claim, the server not returning the item", leader: true, hide: true, op: "Create"},
		{name: "a follower's claim", op: "Create"},
		{name: "a rerun of a lost run", op: "Swap",
			seed: &Record{Key: key(), Owner: "i-dead", State: Running, Fence: 1, Attempt: 1, LeaseUntil: tick.Add(5 * time.Second), Started: tick}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(tick.Add(time.Minute))
			mem := &Memory{HideHolder: tc.hide}
			if tc.seed != nil {
				if err := mem.Create(context.Background(), *tc.seed); err != nil {
					t.Fatal(err)
				}
			}
			tr := newTurn(&lossy{Store: mem, op: tc.op}, clk, "i-self")
			ch := take(tr, gate.TurnRequest{Job: gate.Job{Name: "billing", Tick: tick}, Leader: tc.leader, RerunLost: true})
			clk.Advance(t, clk.Now().Add(100*time.Millisecond)) // the pause before the retry
			got := wait(t, ch)
			if got.err != nil || got.c.Held == nil {
				t.Fatalf("turn = %+v, %v; want the tick run here", got.c, got.err)
			}
			r, _, _ := mem.Get(context.Background(), key())
			if r.Owner != "i-self" || r.State != Running || r.Fence != got.c.Held.Fence() {
				t.Errorf("record %+v, held fence %d", r, got.c.Held.Fence())
			}
		})
	}
}

// TestTheTurnCostsOneWriteAndOneReadPerOtherInstance: the turn keeps the
// ledger's cost: the leader one write at the tick (and one at the end),
// a follower after the takeover delay one look, batched with the other
// jobs of its tick.
func TestTheTurnCostsOneWriteAndOneReadPerOtherInstance(t *testing.T) {
	clk := clocktest.New(tick.Add(-time.Second))
	mem := &Memory{}
	leader := take(newTurn(mem, clk, "i-leader"), gate.TurnRequest{Job: gate.Job{Name: "billing", Tick: tick}, Leader: true, Watch: true})
	follower := take(newTurn(mem, clk, "i-follower"), gate.TurnRequest{Job: gate.Job{Name: "billing", Tick: tick}, Watch: true})
	clk.Advance(t, tick)
	l := wait(t, leader)
	if l.err != nil || l.c.Held == nil || l.c.Result != gate.ClaimWon {
		t.Fatalf("leader = %+v, %v", l.c, l.err)
	}
	_, finish := l.c.Held.Hold(context.Background(), time.Second)
	clk.Set(tick.Add(2 * time.Second))
	if err := finish(gate.End{}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(t, tick.Add(15*time.Second))
	if f := wait(t, follower); f.err != nil || f.c.Held != nil || f.c.Result != gate.ClaimTakenElsewhere {
		t.Fatalf("follower = %+v, %v", f.c, f.err)
	}
	// The other's read is batched for all the jobs of its tick: which are
	// taken (one Query), and their records (one BatchGetItem).
	if c, s, g, q, r := mem.Calls("Create"), mem.Calls("Swap"), mem.Calls("Get"), mem.Calls("TakenAt"), mem.Calls("Records"); c != 1 || s != 1 || g != 0 || q != 1 || r != 1 {
		t.Errorf("calls: Create %d, Swap %d, Get %d, TakenAt %d, Records %d; want 2 writes by the runner, 1 batched look by the other", c, s, g, q, r)
	}
}
