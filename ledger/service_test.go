package ledger

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serviceFleet runs one Service per owner on one store, with a short real
// lease, and records who runs the command with which fence.
type serviceFleet struct {
	mu      sync.Mutex
	running map[string]int64 // owner -> fence, while its command runs
	starts  chan string
	overlap atomic.Bool
}

func (f *serviceFleet) service(m *Memory, owner string, leader bool, drain *atomic.Bool) *Service {
	return &Service{
		Ledger:        &Ledger{Store: m, Owner: owner, Lease: 600 * time.Millisecond},
		Key:           serviceKey(),
		Leader:        func(context.Context) (bool, error) { return leader, nil },
		TakeoverAfter: time.Hour, // only the leader creates the lease
		Poll:          5 * time.Millisecond,
		StopAhead:     200 * time.Millisecond,
		HandOver: func(context.Context) string {
			if drain != nil && drain.Load() {
				return "drained"
			}
			return ""
		},
		Run: func(ctx context.Context, l *Lease) {
			f.mu.Lock()
			if len(f.running) > 0 {
				f.overlap.Store(true)
			}
			f.running[owner] = l.Fence()
			f.mu.Unlock()
			f.starts <- owner
			<-ctx.Done()
			f.mu.Lock()
			delete(f.running, owner)
			f.mu.Unlock()
		},
	}
}

func TestAServiceRunsOnTheLeaderAndMovesOnADrainAndAShutdown(t *testing.T) {
	m := &Memory{}
	f := &serviceFleet{running: map[string]int64{}, starts: make(chan string, 10)}
	var drainA atomic.Bool
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	done := make(chan error, 2)
	go func() { done <- f.service(m, "i-b", false, nil).Loop(ctxB) }()
	go func() { done <- f.service(m, "i-a", true, &drainA).Loop(ctxA) }()
	if got := receive(t, f.starts); got != "i-a" {
		t.Fatalf("first holder %s, want the leader i-a", got)
	}
	drainA.Store(true)
	if got := receive(t, f.starts); got != "i-b" {
		t.Fatalf("after i-a's drain: %s", got)
	}
	f.mu.Lock()
	fence := f.running["i-b"]
	f.mu.Unlock()
	if fence != 2 {
		t.Errorf("i-b's fence %d, want 2", fence)
	}
	stopA()
	if err := receive(t, done); err != nil {
		t.Fatal(err)
	}
	stopB()
	if err := receive(t, done); err != nil {
		t.Fatal(err)
	}
	if f.overlap.Load() {
		t.Error("two commands ran at once")
	}
	if r, _, _ := m.Get(context.Background(), serviceKey()); r.State != Released || r.Owner != "i-b" {
		t.Errorf("after shutdown the lease is %+v; want given back by i-b", r)
	}
}

func TestAServiceHolderCutOffFromTheLedgerStopsBeforeAnotherStarts(t *testing.T) {
	var cut atomic.Bool
	shared := &Memory{}
	// i-a's view of the store fails while cut; i-b's always works.
	cutA := &cutStore{Store: shared, cut: &cut}
	f := &serviceFleet{running: map[string]int64{}, starts: make(chan string, 10)}
	a := f.service(shared, "i-a", true, nil)
	a.Ledger.Store = cutA
	b := f.service(shared, "i-b", false, nil)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go a.Loop(ctx)
	go b.Loop(ctx)
	if got := receive(t, f.starts); got != "i-a" {
		t.Fatalf("first holder %s", got)
	}
	cut.Store(true)
	if got := receive(t, f.starts); got != "i-b" {
		t.Fatalf("after i-a was cut off: %s", got)
	}
	if f.overlap.Load() {
		t.Error("i-b started while i-a's command still ran")
	}
}

type cutStore struct {
	Store
	cut *atomic.Bool
}

var errCut = errors.New("cut off")

func (s *cutStore) Get(ctx context.Context, k Key) (Record, bool, error) {
	if s.cut.Load() {
		return Record{}, false, errCut
	}
	return s.Store.Get(ctx, k)
}

func (s *cutStore) Swap(ctx context.Context, prev, r Record) error {
	if s.cut.Load() {
		return errCut
	}
	return s.Store.Swap(ctx, prev, r)
}
