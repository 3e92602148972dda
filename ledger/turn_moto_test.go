package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/awsfake"
)

// TestMotoAClaimWhoseAnswerIsLostIsRecognisedAndRuns: the claim's write is
// applied but its answer never arrives (the connection closes). Before,
// the retry was refused ("taken") by the claim's own record and nobody ran
// the tick; now the retry finds its own write (owner and token) and runs.
// The leader claims with one write whatever the fault; a follower with one
// read and one write.
func TestMotoAClaimWhoseAnswerIsLostIsRecognisedAndRuns(t *testing.T) {
	for _, leader := range []bool{true, false} {
		m := startMoto(t)
		d := m.table(t, nil)
		turn := &Turn{Ledger: &Ledger{Store: d, Owner: "i-self", Lease: time.Minute, Timeout: 5 * time.Second}, Group: "e-abc123", Takeover: time.Millisecond}
		m.proxy.Inject(awsfake.Fault{Kind: awsfake.DropAnswer, Action: "PutItem", Count: 1})
		tick := time.Now().Add(-time.Second).Truncate(time.Second)
		c, err := turn.Take(context.Background(), gate.TurnRequest{Job: gate.Job{Name: "billing", Tick: tick}, Leader: leader})
		if err != nil || c.Held == nil {
			t.Fatalf("leader %t: claim = %+v, %v; want it won: the write that went through is this claim's own", leader, c, err)
		}
		_, finish := c.Held.Hold(context.Background(), time.Second)
		m.proxy.Inject(awsfake.Fault{Kind: awsfake.DropAnswer, Action: "UpdateItem", Count: 1})
		if err := finish(gate.End{Code: 0}); err != nil {
			t.Fatalf("leader %t: finish = %v; want the end recorded though its first answer was lost", leader, err)
		}
		r, _, err := d.Get(context.Background(), Key{Group: "e-abc123", Job: "billing", Tick: tick})
		if err != nil || r.State != Succeeded || r.Owner != "i-self" || r.Fence != 1 {
			t.Errorf("leader %t: record %+v, %v; want succeeded, fence 1, by i-self", leader, r, err)
		}
	}
}

// TestMotoOneUnansweredRenewalDoesNotStopTheJob: a renewal that hangs gets
// its own deadline and is tried again within the lease; the job goes on.
// Before, the renewal waited until the lease's end and the job was stopped
// as "lost with its instance".
func TestMotoOneUnansweredRenewalDoesNotStopTheJob(t *testing.T) {
	m := startMoto(t)
	d := m.table(t, nil)
	lease := 3 * time.Second
	l := &Ledger{Store: d, Owner: "i-self", Lease: lease, Timeout: 300 * time.Millisecond}
	c, err := l.Claim(context.Background(), Key{Group: "e-abc123", Job: "billing", Tick: time.Now().Truncate(time.Second)}, ClaimOptions{})
	if err != nil || c.Outcome != Won {
		t.Fatal(c, err)
	}
	m.proxy.Inject(awsfake.Fault{Kind: awsfake.Hang, Action: "UpdateItem", Count: 1})
	held, finish := c.Run.Hold(context.Background(), time.Second)
	// The hung renewal and three after it.
	deadline := time.Now().Add(10 * lease) // a bound for a broken build, not a measure
	for time.Now().Before(deadline) && m.proxy.Calls("UpdateItem") < 4 {
		select {
		case <-held.Done():
			t.Fatalf("the job was stopped: %v", context.Cause(held))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if held.Err() != nil {
		t.Fatalf("the job was stopped: %v", context.Cause(held))
	}
	if n := m.proxy.Calls("UpdateItem"); n < 4 {
		t.Fatalf("%d renewals in ten leases", n)
	}
	if err := finish(gate.End{Code: 0}); err != nil {
		t.Fatal(err)
	}
}
