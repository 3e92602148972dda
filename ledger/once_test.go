package ledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

// manualLedgers are ledgers whose waits are on c too (newLedgers' wait in
// real time).
func manualLedgers(store Store, c *clocktest.Manual, owners ...string) []*Ledger {
	var ls []*Ledger
	for _, o := range owners {
		ls = append(ls, &Ledger{Store: store, Owner: o, Clock: c, Lease: 60 * time.Second})
	}
	return ls
}

// receive fails the test instead of hanging when nothing comes.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(clocktest.Bound):
		t.Fatal("no answer within", clocktest.Bound)
	}
	panic("unreachable")
}

func onceKey() Key { return OnceKey("e-abc123", "migrate@v42") }

func TestOnceKeysSortAboveEveryTickAndNameTheTask(t *testing.T) {
	k := onceKey()
	if k.Partition() != "e-abc123#once#migrate@v42" || k.String() != "once#migrate@v42" || k.Name() != "migrate@v42" {
		t.Errorf("key = %q, %q, %q", k.Partition(), k.String(), k.Name())
	}
	if err := k.Check(); err != nil {
		t.Error(err)
	}
	if k.TickString() <= key().TickString() {
		t.Errorf("untimed sort key %s does not sort above a tick", k.TickString())
	}
	r := Record{Key: ServiceKey("g", "beat"), Fence: 7}
	if r.RunID() != "g#service#beat/7" {
		t.Errorf("RunID = %q", r.RunID())
	}
}

func TestOnceOnThreeInstancesAtOnceRunsOnOneAndTheOthersGetItsExitCode(t *testing.T) {
	m := &Memory{}
	type result struct {
		owner string
		res   OnceResult
		err   error
	}
	results := make(chan result, 3)
	var wg sync.WaitGroup
	for _, owner := range []string{"i-a", "i-b", "i-c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := &Ledger{Store: m, Owner: owner, Lease: time.Minute}
			res, err := l.Once(context.Background(), onceKey(), OnceOptions{ClaimAt: time.Now(), Poll: 5 * time.Millisecond})
			results <- result{owner, res, err}
		}()
	}
	first := <-results
	if first.err != nil || first.res.Outcome != OnceRun || first.res.Waited {
		t.Fatalf("first answer = %+v, %v; want this instance runs it", first.res, first.err)
	}
	if env := first.res.Run.Env(); len(env) != 3 || env[2] != "LEADERGATE_FENCE=1" {
		t.Errorf("Env = %q", env)
	}
	if err := first.res.Run.Finish(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil || r.res.Outcome != OnceDone || r.res.Record.State != Failed || r.res.Record.ExitCode != 3 || r.res.Record.Owner != first.owner {
			t.Errorf("%s: %+v, %v; want the runner's failure (exit 3 on %s)", r.owner, r.res, r.err, first.owner)
		}
	}
	if n := m.Calls("Create"); n > 3 {
		t.Errorf("%d creates", n)
	}
}

func TestOnceOfATaskThatSucceededRunsNothingAndWritesNothing(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	l := manualLedgers(m, c, "i-a", "i-b")
	res, err := l[0].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now()})
	if err != nil || res.Outcome != OnceRun {
		t.Fatal(res, err)
	}
	if err := res.Run.Finish(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	writes := m.Calls("Create") + m.Calls("Swap")
	for _, retry := range []bool{false, true} {
		got, err := l[1].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now(), RetryFailed: retry})
		if err != nil || got.Outcome != OnceDone || got.Record.State != Succeeded || got.Waited {
			t.Errorf("retry-failed %v: %+v, %v; want done, succeeded, at once", retry, got, err)
		}
	}
	if w := m.Calls("Create") + m.Calls("Swap"); w != writes {
		t.Errorf("%d writes after the task succeeded", w-writes)
	}
}

func TestOnceOfAFailedTaskRerunsOnlyWithRetryFailed(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	l := manualLedgers(m, c, "i-a", "i-b")
	res, _ := l[0].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now()})
	if err := res.Run.Finish(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	got, err := l[1].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now()})
	if err != nil || got.Outcome != OnceDone || got.Record.State != Failed || got.Record.ExitCode != 2 {
		t.Fatalf("without --retry-failed: %+v, %v; want its failure", got, err)
	}
	got, err = l[1].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now(), RetryFailed: true})
	if err != nil || got.Outcome != OnceRun {
		t.Fatalf("with --retry-failed: %+v, %v; want a rerun", got, err)
	}
	if r := got.Run.Record(); r.Fence != 2 || r.Attempt != 2 || r.Owner != "i-b" || got.Run.Rerun == nil || got.Run.Rerun.ExitCode != 2 {
		t.Errorf("rerun record = %+v, replaces %+v", r, got.Run.Rerun)
	}
}

func TestARunThatFailsWhileOthersWaitIsTheirResultEvenWithRetryFailed(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	l := manualLedgers(m, c, "i-a", "i-b")
	res, _ := l[0].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now()})
	done := make(chan OnceResult, 1)
	go func() {
		got, err := l[1].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now(), RetryFailed: true, Poll: time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	c.WaitFor(t, c.Now().Add(time.Second)) // the waiter has read it running
	if err := res.Run.Finish(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Second)
	if got := receive(t, done); got.Outcome != OnceDone || got.Record.State != Failed || !got.Waited {
		t.Errorf("waiter = %+v; want the failure it waited for, not a rerun", got)
	}
}

func TestAWaiterTakesOverOnceTheRunnersLeaseRunsOut(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		m := &Memory{}
		c := clocktest.New(tick)
		l := manualLedgers(m, c, "i-a", "i-b")
		res, _ := l[0].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now()})
		leaseUntil := res.Run.Record().LeaseUntil
		var progress int
		done := make(chan OnceResult, 1)
		go func() {
			got, err := l[1].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now(), RefuseLost: refuse, Poll: 10 * time.Second,
				Waiting: func(r Record, err error) { progress++ }})
			if err != nil {
				t.Error(err)
			}
			done <- got
		}()
		// i-a dies: nobody renews. Until the lease ends the waiter waits.
		for !c.Now().After(leaseUntil) {
			c.Advance(t, c.Now().Add(10*time.Second))
		}
		got := receive(t, done)
		if progress != 7 {
			t.Errorf("refuse %v: %d progress reports over the 60 s lease, want 7 (one per poll)", refuse, progress)
		}
		r, _, _ := m.Get(context.Background(), onceKey())
		if refuse {
			if got.Outcome != OnceDone || got.Record.State != Lost || r.State != Lost {
				t.Errorf("--on-lost fail: %+v, stored %+v; want it recorded lost, not rerun", got, r)
			}
			continue
		}
		if got.Outcome != OnceRun || got.Run.Record().Fence != 2 || got.Run.Rerun == nil || r.Owner != "i-b" || r.Fence != 2 {
			t.Errorf("takeover: %+v, stored %+v; want i-b to rerun it with fence 2", got, r)
		}
		if env := got.Run.Env(); env[2] != "LEADERGATE_FENCE=2" {
			t.Errorf("Env = %q", env)
		}
	}
}

func TestAFollowerLeavesTheTaskToTheLeaderUntilClaimAt(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	l := manualLedgers(m, c, "i-leader", "i-follower")
	done := make(chan OnceResult, 1)
	go func() {
		got, err := l[1].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now().Add(16 * time.Second), NoWait: true})
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	c.WaitFor(t, c.Now().Add(2*time.Second))
	if n := m.Calls("Create"); n != 0 {
		t.Fatalf("the follower created the record before its turn (%d creates)", n)
	}
	res, _ := l[0].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now()})
	if res.Outcome != OnceRun {
		t.Fatal(res)
	}
	c.Add(2 * time.Second)
	if got := receive(t, done); got.Outcome != OnceBusy || got.Record.Owner != "i-leader" {
		t.Errorf("follower with --no-wait = %+v; want busy on the leader", got)
	}

	// Without a leader, the follower runs it at ClaimAt.
	m2 := &Memory{}
	f := manualLedgers(m2, c, "i-follower")[0]
	claimAt := c.Now().Add(16 * time.Second)
	go func() {
		got, _ := f.Once(context.Background(), onceKey(), OnceOptions{ClaimAt: claimAt})
		done <- got
	}()
	for c.Now().Before(claimAt) { // it reads every 2 s meanwhile
		c.Advance(t, c.Now().Add(2*time.Second))
	}
	if got := receive(t, done); got.Outcome != OnceRun || !c.Now().Equal(claimAt) {
		t.Errorf("follower alone = %v at %v; want it to run at %v", got.Outcome, c.Now(), claimAt)
	}
}

func TestOnceFailsAtOnceWhenTheLedgerCannotBeReadAndRetriesWhileWaiting(t *testing.T) {
	down := errors.New("DynamoDB unreachable")
	m := &Memory{Err: func(string) error { return down }}
	c := clocktest.New(tick)
	l := manualLedgers(m, c, "i-a")[0]
	if _, err := l.Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now()}); !errors.Is(err, down) {
		t.Fatalf("first read failing: err = %v", err)
	}

	var mu sync.Mutex
	failing := false
	m2 := &Memory{Err: func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return down
		}
		return nil
	}}
	ls := manualLedgers(m2, c, "i-a", "i-b")
	res, _ := ls[0].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now()})
	var errs int
	done := make(chan OnceResult, 1)
	go func() {
		got, err := ls[1].Once(context.Background(), onceKey(), OnceOptions{ClaimAt: c.Now(), Poll: time.Second,
			Waiting: func(r Record, err error) {
				if err != nil {
					errs++
				}
			}})
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	c.WaitFor(t, c.Now().Add(time.Second))
	mu.Lock()
	failing = true
	mu.Unlock()
	c.Advance(t, c.Now().Add(time.Second))
	c.WaitFor(t, c.Now().Add(time.Second)) // the failed read was reported, and it waits again
	mu.Lock()
	failing = false
	mu.Unlock()
	if err := res.Run.Finish(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Second)
	if got := receive(t, done); got.Outcome != OnceDone || got.Record.State != Succeeded || errs != 1 {
		t.Errorf("waiter = %+v after %d failed reads; want succeeded after 1", got, errs)
	}
}
