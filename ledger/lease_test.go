package ledger

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

func serviceKey() Key { return ServiceKey("e-abc123", "celery-beat") }

func TestAServiceLeaseHasOneHolderAndItsFenceGrowsAtEveryHandover(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	l := manualLedgers(m, c, "i-a", "i-b")
	ctx := context.Background()
	if s, _, err := l[1].Acquire(ctx, serviceKey(), false); s != nil || err != nil {
		t.Fatalf("a follower created the lease before the leader: %v, %v", s, err)
	}
	a, _, err := l[0].Acquire(ctx, serviceKey(), true)
	if err != nil || a == nil || a.Fence() != 1 {
		t.Fatalf("leader: %v, %v", a, err)
	}
	if s, holder, err := l[1].Acquire(ctx, serviceKey(), true); s != nil || err != nil || holder.Owner != "i-a" {
		t.Fatalf("second holder while i-a holds it: %v, %+v, %v", s, holder, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b, _, err := l[1].Acquire(ctx, serviceKey(), false)
	if err != nil || b == nil || b.Fence() != 2 {
		t.Fatalf("after a release: %v, %v; want i-b with fence 2 at once", b, err)
	}
	if env := b.Env(); env[0] != "LEADERGATE_JOB=celery-beat" || env[2] != "LEADERGATE_FENCE=2" {
		t.Errorf("Env = %q", env)
	}
	// i-b dies: its lease must run out before i-a gets it back.
	c.Add(60 * time.Second)
	if s, _, _ := l[0].Acquire(ctx, serviceKey(), true); s != nil {
		t.Fatal("acquired at the very end of i-b's lease")
	}
	c.Add(time.Millisecond)
	a2, _, err := l[0].Acquire(ctx, serviceKey(), true)
	if err != nil || a2 == nil || a2.Fence() != 3 {
		t.Fatalf("after i-b's lease ran out: %v, %v; want fence 3", a2, err)
	}
	if err := b.Renew(ctx); !IsConflict(err) {
		t.Errorf("the old holder's renewal = %v; want a conflict", err)
	}
	if err := b.Release(ctx); !IsConflict(err) {
		t.Errorf("the old holder's release = %v; want a conflict", err)
	}
}

func TestAHolderThatCannotRenewGivesUpBeforeItsLeaseCanRunOut(t *testing.T) {
	var down atomic.Bool
	m := &Memory{Err: func(op string) error {
		if down.Load() {
			return errors.New("DynamoDB unreachable")
		}
		return nil
	}}
	c := clocktest.New(tick)
	l := manualLedgers(m, c, "i-a", "i-b")
	a, _, _ := l[0].Acquire(context.Background(), serviceKey(), true)
	start := c.Now()
	held, stop := a.Keep(context.Background(), 15*time.Second, nil)
	defer stop()
	c.Advance(t, start.Add(20*time.Second)) // the first renewal gets through
	c.WaitFor(t, start.Add(40*time.Second))
	if r, _, _ := m.Get(context.Background(), serviceKey()); !r.LeaseUntil.Equal(start.Add(80 * time.Second)) {
		t.Fatalf("lease after the first renewal ends %v", r.LeaseUntil)
	}
	down.Store(true)
	c.Advance(t, start.Add(40*time.Second)) // the second renewal fails
	// It retries every second until 80 s - 15 s, and gives up then.
	stopAt := start.Add(65 * time.Second)
	for c.Now().Before(stopAt) {
		if held.Err() != nil {
			t.Fatalf("gave up at +%v; want +65s: the 80 s lease end minus the 15 s it needs to stop", c.Now().Sub(start))
		}
		c.Advance(t, c.Now().Add(time.Second))
	}
	receive(t, held.Done())
	if !errors.Is(context.Cause(held), ErrLeaseLost) {
		t.Errorf("cause = %v", context.Cause(held))
	}
	down.Store(false)
	if s, _, _ := l[1].Acquire(context.Background(), serviceKey(), true); s != nil {
		t.Error("i-b acquired the lease while i-a's had not run out")
	}
}

func TestAHolderWhoseLeaseWasTakenStopsAtItsNextRenewal(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	l := manualLedgers(m, c, "i-a", "i-b")
	a, _, _ := l[0].Acquire(context.Background(), serviceKey(), true)
	held, stop := a.Keep(context.Background(), 5*time.Second, nil)
	defer stop()
	// Someone took it (an operator's edit, or a clock far off): the
	// holder's renewal is refused and it stops at once.
	r, _, _ := m.Get(context.Background(), serviceKey())
	stolen := r
	stolen.Owner, stolen.Fence = "i-b", r.Fence+1
	if err := m.Swap(context.Background(), r, stolen); err != nil {
		t.Fatal(err)
	}
	c.Advance(t, c.Now().Add(20*time.Second))
	receive(t, held.Done())
	if !errors.Is(context.Cause(held), ErrLeaseLost) {
		t.Errorf("cause = %v", context.Cause(held))
	}
}
