package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

func claimReal(t *testing.T, m *Memory, lease time.Duration) *Run {
	t.Helper()
	l := &Ledger{Store: m, Owner: "i-a", Lease: lease}
	got, err := l.Claim(context.Background(), Key{Group: "g", Job: "j", Tick: time.Now().Truncate(time.Minute)}, ClaimOptions{})
	if err != nil || got.Outcome != Won {
		t.Fatal(got, err)
	}
	return got.Run
}

func TestARunIsNamedByItsKeyAndFence(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick.Add(300 * time.Millisecond))
	got, err := newLedgers(m, c, "i-a")[0].Claim(context.Background(), key(), ClaimOptions{})
	if err != nil || got.Outcome != Won {
		t.Fatal(got, err)
	}
	if id, fence := got.Run.RunID(), got.Run.Fence(); id != "e-abc123#billing@2026-03-14T03:00:00Z/1" || fence != 1 {
		t.Errorf("run id %q, fence %d", id, fence)
	}
}

func TestHoldRecordsTheExitWhenFinished(t *testing.T) {
	m := &Memory{}
	run := claimReal(t, m, time.Minute)
	held, finish := run.Hold(context.Background(), 0)
	if err := finish(gate.End{Code: 3}); err != nil {
		t.Fatalf("finish = %v", err)
	}
	if held.Err() == nil {
		t.Error("the held context is still live after finish")
	}
	r, _, _ := m.Get(context.Background(), run.Record().Key)
	if r.State != Failed || r.ExitCode != 3 || r.Finished.IsZero() {
		t.Errorf("record = %+v", r)
	}
}

func TestHoldLetsGoWhenTheTickIsTakenOver(t *testing.T) {
	m := &Memory{}
	run := claimReal(t, m, 300*time.Millisecond)
	held, finish := run.Hold(context.Background(), 0)
	// Another instance takes the tick over (as after a freeze).
	prev := run.Record()
	next := prev
	next.Owner, next.Fence = "i-b", prev.Fence+1
	if err := m.Swap(context.Background(), prev, next); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the claim was still held 10s after its renewal was refused")
	}
	if err := finish(gate.End{Code: 143}); !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "taken over") {
		t.Errorf("finish = %v; want a lost lease, taken over", err)
	}
	r, _, _ := m.Get(context.Background(), prev.Key)
	if r.Owner != "i-b" || r.State != Running {
		t.Errorf("the old owner wrote over the new one: %+v", r)
	}
}

func TestHoldLetsGoWhenTheLedgerIsUnreachableUntilTheLeaseEnds(t *testing.T) {
	m := &Memory{}
	run := claimReal(t, m, 300*time.Millisecond)
	m.Err = func(op string) error { return errors.New("connection refused") }
	held, finish := run.Hold(context.Background(), 0)
	select {
	case <-held.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the claim was still held 10s after its lease ended unrenewed")
	}
	if now := time.Now(); now.Before(run.Record().LeaseUntil) {
		t.Errorf("let go at %s, before the lease ended at %s", now, run.Record().LeaseUntil)
	}
	if err := finish(gate.End{Code: 143}); !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "ran out") {
		t.Errorf("finish = %v; want a lost lease that ran out", err)
	}
}

// TestHoldRenewsOnTheLedgersClock: the lease is renewed when the ledger's
// clock says a renewal is due, not on a timer of its own, and the renewal
// extends the lease from that clock's now.
func TestHoldRenewsOnTheLedgersClock(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	l := &Ledger{Store: m, Owner: "i-a", Clock: c, Lease: time.Minute}
	got, err := l.Claim(context.Background(), key(), ClaimOptions{})
	if err != nil || got.Outcome != Won {
		t.Fatal(got, err)
	}
	held, finish := got.Run.Hold(context.Background(), 0)
	every := got.Run.RenewEvery(0)
	c.Advance(t, tick.Add(every))   // fails unless Hold waits on c for its renewal
	c.WaitFor(t, tick.Add(2*every)) // the next renewal's wait: the first is written
	r, _, _ := m.Get(context.Background(), key())
	if want := tick.Add(every).Add(time.Minute); !r.LeaseUntil.Equal(want) {
		t.Errorf("lease until %s after the renewal, want %s (the clock's now + the lease)", r.LeaseUntil, want)
	}
	if held.Err() != nil {
		t.Errorf("the claim was let go after a good renewal: %v", context.Cause(held))
	}
	if err := finish(gate.End{Code: 0}); err != nil {
		t.Fatalf("finish = %v", err)
	}
	if r, _, _ := m.Get(context.Background(), key()); r.State != Succeeded {
		t.Errorf("record after finish: %+v", r)
	}
}
