package ledger

import (
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

// TestFollowersLookAtATickOnceForAllItsJobs: a scheduler that follows asks
// the ledger about a tick once for all the jobs due at it, after the
// takeover delay: one Query of the taken jobs and one read of their
// records, not one consistent read per job; a job the leader did not claim
// is claimed at once, with no read first; a run still running is watched
// to the end of its lease as before, and found lost there.
func TestFollowersLookAtATickOnceForAllItsJobs(t *testing.T) {
	clk := clocktest.New(tick.Add(-time.Second))
	store := &Memory{}
	leader, follower := newTurn(store, clk, "i-leader"), newTurn(store, clk, "i-follower")
	jobs := []string{"billing", "report", "sweep", "long"}
	var leaders []<-chan taken
	for _, j := range jobs[:3] { // the leader claims three, not long
		leaders = append(leaders, take(leader, gate.TurnRequest{Job: gate.Job{Name: j, Tick: tick}, Leader: true, Watch: true}))
	}
	var follows []<-chan taken
	for _, j := range jobs {
		follows = append(follows, take(follower, gate.TurnRequest{Job: gate.Job{Name: j, Tick: tick}, Watch: true}))
	}
	clk.Advance(t, tick)
	for i, ch := range leaders {
		a := wait(t, ch)
		if a.err != nil || a.c.Held == nil {
			t.Fatalf("the leader's claim of %s = %+v, %v", jobs[i], a.c, a.err)
		}
		if jobs[i] != "sweep" { // sweep stays running, unrenewed: its instance died
			if err := a.c.Held.(*Run).Finish(t.Context(), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk.Advance(t, tick.Add(15*time.Second))
	if got := wait(t, follows[3]); got.err != nil || got.c.Held == nil || got.c.Result != gate.ClaimTakenOver {
		t.Fatalf("the follower's turn at the unclaimed tick of long = %+v, %v; want it taken over", got.c, got.err)
	}
	for i, ch := range follows[:2] {
		if a := wait(t, ch); a.err != nil || a.c.Held != nil || a.c.Result != gate.ClaimTakenElsewhere {
			t.Errorf("the follower's turn at %s = %+v, %v; want taken elsewhere", jobs[i], a.c, a.err)
		}
	}
	if q, r, g := store.Calls("TakenAt"), store.Calls("Records"), store.Calls("Get"); q != 1 || r != 1 || g != 0 {
		t.Errorf("calls at the takeover delay: TakenAt %d, Records %d, Get %d; want one Query and one batched read for the tick, no Get", q, r, g)
	}
	clk.Advance(t, tick.Add(time.Minute+time.Second))
	if a := wait(t, follows[2]); a.err != nil || a.c.Lost == nil || a.c.Held != nil {
		t.Errorf("the follower's turn at sweep = %+v, %v; want its run found lost at the end of its lease", a.c, a.err)
	}
}
