package ledger

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

// clock is a settable clock, placed far from any boundary.

var tick = time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)

func newLedgers(store Store, c *clocktest.Manual, owners ...string) []*Ledger {
	var ls []*Ledger
	for _, o := range owners {
		ls = append(ls, &Ledger{Store: store, Owner: o, Clock: clock.Func(c.Now), Lease: 60 * time.Second})
	}
	return ls
}

func key() Key { return Key{Group: "e-abc123", Job: "billing", Tick: tick} }

func TestTheLeaderClaimsWithOneWriteAndAFollowerReadsOnce(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick.Add(200 * time.Millisecond))
	ls := newLedgers(m, c, "i-leader", "i-follower")
	got, err := ls[0].Claim(context.Background(), key(), ClaimOptions{})
	if err != nil || got.Outcome != Won {
		t.Fatalf("leader's claim = %v, %v; want won", got.Outcome, err)
	}
	if r := got.Run.Record(); r.Fence != 1 || r.Attempt != 1 || r.State != Running || r.Owner != "i-leader" {
		t.Errorf("claimed record = %+v", r)
	}
	c.Add(15 * time.Second)
	f, err := ls[1].Claim(context.Background(), key(), ClaimOptions{Look: true})
	if err != nil || f.Outcome != Taken || f.Holder == nil || f.Holder.Owner != "i-leader" {
		t.Fatalf("follower's claim = %+v, %v; want taken by i-leader", f, err)
	}
	if err := got.Run.Finish(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if g, cr, s := m.Calls("Get"), m.Calls("Create"), m.Calls("Swap"); g != 1 || cr != 1 || s != 1 {
		t.Errorf("calls: Get %d, Create %d, Swap %d; want 1 read by the follower, claim + finish by the leader", g, cr, s)
	}
	r, _, _ := m.Get(context.Background(), key())
	if r.State != Succeeded || r.ExitCode != 0 || r.Duration(c.Now()) != 15*time.Second {
		t.Errorf("finished record = %+v", r)
	}
}

func TestManyInstancesClaimingOneTickAtOnceMakeOneRun(t *testing.T) {
	for _, hide := range []bool{false, true} {
		m := &Memory{HideHolder: hide}
		c := clocktest.New(tick)
		owners := make([]string, 10)
		for i := range owners {
			owners[i] = "i-" + string(rune('a'+i))
		}
		ls := newLedgers(m, c, owners...)
		var wg sync.WaitGroup
		won := make(chan string, len(ls))
		for i, l := range ls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := l.Claim(context.Background(), key(), ClaimOptions{Look: i%2 == 1})
				if err != nil {
					t.Error(err)
				}
				if got.Outcome == Won {
					won <- l.Owner
				}
			}()
		}
		wg.Wait()
		close(won)
		if n := len(won); n != 1 {
			t.Errorf("hide holder %t: %d winners, want 1", hide, n)
		}
	}
}

func TestARenewalAfterATakeoverIsRefusedAndTheFinishToo(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	ls := newLedgers(m, c, "i-a", "i-b")
	a, _ := ls[0].Claim(context.Background(), key(), ClaimOptions{})
	c.Add(20 * time.Second)
	if err := a.Run.Renew(context.Background()); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if got := a.Run.Record().LeaseUntil; !got.Equal(tick.Add(80 * time.Second)) {
		t.Errorf("lease after renewal = %s, want 03:01:20", got)
	}
	c.Add(61 * time.Second) // a froze: its lease ran out
	b, err := ls[1].Claim(context.Background(), key(), ClaimOptions{Look: true, Rerun: true})
	if err != nil || b.Outcome != Won || b.Run.Record().Fence != 2 || b.Run.Record().Attempt != 2 {
		t.Fatalf("takeover = %+v, %v; want won with fence 2, attempt 2", b, err)
	}
	if b.Run.Rerun == nil || b.Run.Rerun.Owner != "i-a" {
		t.Errorf("the rerun does not say whom it replaces: %+v", b.Run.Rerun)
	}
	if err := a.Run.Renew(context.Background()); !IsConflict(err) {
		t.Errorf("old owner's renewal = %v, want a conflict", err)
	}
	if err := a.Run.Finish(context.Background(), 0); !IsConflict(err) {
		t.Errorf("old owner's finish = %v, want a conflict", err)
	}
	if err := b.Run.Finish(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	r, _, _ := m.Get(context.Background(), key())
	if r.Owner != "i-b" || r.State != Failed || r.ExitCode != 3 {
		t.Errorf("record = %+v; want failed with 3, by i-b", r)
	}
}

func TestALostRunIsMarkedLostAndNotRerunByDefault(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	ls := newLedgers(m, c, "i-a", "i-b", "i-c")
	ls[0].Claim(context.Background(), key(), ClaimOptions{})
	c.Add(15 * time.Second)
	if got, _ := ls[1].Claim(context.Background(), key(), ClaimOptions{Look: true}); got.Outcome != Taken {
		t.Fatalf("before the lease ends: %v, want taken", got.Outcome)
	}
	c.Add(50 * time.Second)
	got, err := ls[1].Claim(context.Background(), key(), ClaimOptions{Look: true})
	if err != nil || got.Outcome != LostFound || got.Holder.State != Lost {
		t.Fatalf("after the lease: %+v, %v; want lost", got, err)
	}
	again, _ := ls[2].Claim(context.Background(), key(), ClaimOptions{Look: true, Rerun: true})
	if again.Outcome != Taken {
		t.Errorf("a run recorded lost was claimed again: %v", again.Outcome)
	}
	r, _, _ := m.Get(context.Background(), key())
	if r.State != Lost || r.Owner != "i-a" || r.Fence != 1 {
		t.Errorf("record = %+v; want i-a's, lost", r)
	}
}

func TestTwoInstancesRerunningOneLostRunRerunItOnce(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	ls := newLedgers(m, c, "i-a", "i-b", "i-c", "i-d")
	ls[0].Claim(context.Background(), key(), ClaimOptions{})
	c.Add(2 * time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for _, l := range ls[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := l.Claim(context.Background(), key(), ClaimOptions{Look: true, Rerun: true})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if got.Outcome == Won {
				wins++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d reruns, want 1", wins)
	}
}

func TestALedgerThatFailsRunsNothingAndLeavesNothingClaimed(t *testing.T) {
	boom := errors.New("throttled")
	for _, op := range []string{"Get", "Create"} {
		m := &Memory{Err: func(o string) error {
			if o == op {
				return boom
			}
			return nil
		}}
		l := newLedgers(m, clocktest.New(tick), "i-a")[0]
		got, err := l.Claim(context.Background(), key(), ClaimOptions{Look: true})
		if !errors.Is(err, boom) || got.Run != nil {
			t.Errorf("%s failing: claim = %+v, %v; want the error and no run", op, got, err)
		}
		m.Err = nil
		if _, found, _ := m.Get(context.Background(), key()); found {
			t.Errorf("%s failing: a record was left", op)
		}
	}
}

func TestKeysThatCannotBeStoredAreRefusedBeforeAnyCall(t *testing.T) {
	cases := []struct {
		name string
		k    Key
		want string
	}{
		{"a job name too long for a key", Key{Group: "g", Job: strings.Repeat("x", MaxJob+1), Tick: tick}, "shorter name"},
		{"no job name", Key{Group: "g", Tick: tick}, "job name is empty"},
		{"no group", Key{Job: "j", Tick: tick}, "group is empty"},
		{"no tick", Key{Group: "g", Job: "j"}, "tick is zero"},
	}
	for _, tc := range cases {
		m := &Memory{}
		l := newLedgers(m, clocktest.New(tick), "i-a")[0]
		_, err := l.Claim(context.Background(), tc.k, ClaimOptions{Look: true})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if n := m.Calls("Get") + m.Calls("Create"); n != 0 {
			t.Errorf("%s: %d store calls, want none", tc.name, n)
		}
	}
}

func TestTheTickIsStoredToTheSecondInUTC(t *testing.T) {
	m := &Memory{}
	l := newLedgers(m, clocktest.New(tick), "i-a")[0]
	k := key()
	k.Tick = tick.In(time.FixedZone("CET", 3600)).Add(400 * time.Millisecond)
	l.Claim(context.Background(), k, ClaimOptions{})
	got, _ := l.Claim(context.Background(), key(), ClaimOptions{})
	if got.Outcome != Taken {
		t.Errorf("the same tick in another zone and with milliseconds was claimed twice")
	}
}

func TestRecentIsNewestFirstAndIgnoresExpiredItems(t *testing.T) {
	c := clocktest.New(tick)
	m := &Memory{Now: c.Now}
	l := &Ledger{Store: m, Owner: "i-a", Clock: clock.Func(c.Now), Retain: 48 * time.Hour}
	for i := range 5 {
		k := key()
		k.Tick = tick.Add(time.Duration(i) * 24 * time.Hour)
		if i == 4 {
			k.Job = "other"
		}
		c.Set(k.Tick)
		l.Claim(context.Background(), k, ClaimOptions{})
	}
	c.Set(tick.Add(4*24*time.Hour + time.Minute)) // kept 48h: days 14, 15 and 16 have expired
	got, err := m.Recent(context.Background(), "e-abc123", "", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ticks []string
	for _, r := range got {
		ticks = append(ticks, r.Job+"@"+r.Tick.Format("02"))
	}
	if s := strings.Join(ticks, " "); s != "other@18 billing@17" {
		t.Errorf("recent = %s", s)
	}
	one, _ := m.Recent(context.Background(), "e-abc123", "billing", time.Time{}, 1)
	if len(one) != 1 || one[0].Tick.Day() != 17 {
		t.Errorf("recent billing, limit 1 = %+v", one)
	}
}

func TestAsOf(t *testing.T) {
	lease := tick.Add(time.Minute)
	running := Record{Key: key(), Owner: "i-a", State: Running, Fence: 1, Attempt: 1, LeaseUntil: lease, Started: tick}
	finished := running
	finished.State, finished.Finished = Succeeded, tick.Add(10*time.Second)
	marked := running
	marked.State = Lost
	cases := []struct {
		name string
		r    Record
		now  time.Time
		want State
	}{
		{"a running record within its lease is running", running, lease.Add(-30 * time.Second), Running},
		{"a running record at the very end of its lease is still running", running, lease, Running},
		{"a running record past its lease is lost", running, lease.Add(time.Second), Lost},
		{"a finished record stays finished, lease or not", finished, lease.Add(time.Hour), Succeeded},
		{"a record marked lost stays lost", marked, lease.Add(-30 * time.Second), Lost},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.r.AsOf(c.now)
			if got.State != c.want {
				t.Errorf("AsOf = %s, want %s", got.State, c.want)
			}
			want := c.r
			want.State = got.State
			if got != want {
				t.Errorf("AsOf changed more than the state: %+v", got)
			}
		})
	}
}

// A prefix-mode run whose instance died mid-job (SIGKILL) never finishes,
// and nobody claims its tick again: a reader sees it lost once its lease
// has run out, without any write.
func TestARunKilledMidJobReadsLostOnceItsLeaseRunsOut(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick.Add(200 * time.Millisecond))
	l := newLedgers(m, c, "i-a")[0]
	done, _ := l.Claim(context.Background(), Key{Group: "e-abc123", Job: "billing", Tick: tick.Add(-time.Hour)}, ClaimOptions{})
	done.Run.Finish(context.Background(), 0)
	if _, err := l.Claim(context.Background(), key(), ClaimOptions{}); err != nil {
		t.Fatal(err)
	}
	// ... and the process is killed here: no renewal, no finish.
	states := func() []State {
		recs, err := m.Recent(context.Background(), "e-abc123", "billing", tick.Add(-24*time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []State
		for _, r := range recs {
			out = append(out, r.AsOf(c.Now()).State)
		}
		return out
	}
	c.Add(30 * time.Second)
	if got := states(); len(got) != 2 || got[0] != Running || got[1] != Succeeded {
		t.Errorf("within the lease: %v, want [running succeeded]", got)
	}
	writes := m.Calls("Create") + m.Calls("Swap")
	c.Add(time.Minute)
	if got := states(); len(got) != 2 || got[0] != Lost || got[1] != Succeeded {
		t.Errorf("past the lease: %v, want [lost succeeded]", got)
	}
	if w := m.Calls("Create") + m.Calls("Swap"); w != writes {
		t.Errorf("reading history wrote %d times", w-writes)
	}
}

func TestLookSaysWhatAClaimWouldDoAndWritesNothing(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick.Add(200 * time.Millisecond))
	ls := newLedgers(m, c, "i-a", "i-b")
	look := func(opts ClaimOptions) Claim {
		t.Helper()
		got, err := ls[1].Look(context.Background(), key(), opts)
		if err != nil || got.Run != nil {
			t.Fatalf("Look = %+v, %v", got, err)
		}
		return got
	}
	if got := look(ClaimOptions{}); got.Outcome != Won || got.Holder != nil {
		t.Errorf("a tick nobody took: %+v, want won", got)
	}
	ls[0].Claim(context.Background(), key(), ClaimOptions{})
	if got := look(ClaimOptions{}); got.Outcome != Taken || got.Holder.Owner != "i-a" {
		t.Errorf("a tick i-a runs: %+v, want taken by i-a", got)
	}
	c.Add(2 * time.Minute)
	if got := look(ClaimOptions{}); got.Outcome != LostFound || got.Holder.Owner != "i-a" {
		t.Errorf("a run lost with i-a: %+v, want lost", got)
	}
	if got := look(ClaimOptions{Rerun: true}); got.Outcome != Won || got.Holder.Owner != "i-a" {
		t.Errorf("a run lost with i-a, rerun allowed: %+v, want won, replacing i-a's", got)
	}
	if cr, s := m.Calls("Create"), m.Calls("Swap"); cr != 1 || s != 0 {
		t.Errorf("writes: Create %d, Swap %d; want only i-a's claim", cr, s)
	}
	if _, err := ls[1].Look(context.Background(), Key{Group: "g", Tick: tick}, ClaimOptions{}); err == nil {
		t.Error("Look accepted a key without a job")
	}
}

// TestAWatchNeverCreatesARecord: a watch at the end of another's lease acts
// on the record only; finding none (the item expired, or was never
// written) it claims nothing, so it can never start a run.
func TestAWatchNeverCreatesARecord(t *testing.T) {
	m := &Memory{}
	l := newLedgers(m, clocktest.New(tick), "i-a")[0]
	got, err := l.Claim(context.Background(), key(), ClaimOptions{Look: true, Watch: true})
	if err != nil || got.Outcome != Taken || got.Run != nil {
		t.Fatalf("watch of a missing record = %+v, %v; want taken, nothing to run", got, err)
	}
	if _, found, _ := m.Get(context.Background(), key()); found {
		t.Error("the watch created a record")
	}
}
