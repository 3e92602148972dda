package ledger

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

type controlled interface {
	Store
	ControlStore
}

const group = "e-abc123"

func operator(s controlled, c *clocktest.Manual) *Operator {
	return &Operator{Store: s, Controls: s, Actor: "arn:aws:sts::123456789012:assumed-role/ops/alice", Clock: clock.Func(c.Now)}
}

func controls(t *testing.T, s ControlStore) ControlSet {
	t.Helper()
	cs, err := s.Controls(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	return ControlSet{Items: cs}
}

// The same cases run on Memory and on moto's DynamoDB.
func testPauseCoversTicksFromItsMomentUntilItLifts(t *testing.T, s controlled) {
	c := clocktest.New(tick.Add(30 * time.Second))
	op := operator(s, c)
	ctx := context.Background()
	if _, err := op.Pause(ctx, group, "billing", time.Time{}, "bad deploy"); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Second)
	if _, err := op.Pause(ctx, group, "", tick.Add(10*time.Minute), "maintenance"); err != nil {
		t.Fatal(err)
	}
	set := controls(t, s)
	for _, tc := range []struct {
		job    string
		at     time.Time
		paused bool
	}{
		{"billing", tick, false}, // before the pause was given
		{"billing", tick.Add(time.Minute), true},
		{"billing", tick.Add(time.Hour), true},  // its own pause has no end
		{"report", tick.Add(time.Minute), true}, // the group's
		{"report", tick.Add(10 * time.Minute), false},
	} {
		if p, ok := set.Paused(tc.job, tc.at); ok != tc.paused {
			t.Errorf("%s at %s paused = %v (%+v); want %v", tc.job, tc.at.Format(TickFormat), ok, p, tc.paused)
		}
	}
	if p, _ := set.Paused("billing", tick.Add(time.Hour)); p.Actor != op.Actor || p.Reason != "bad deploy" {
		t.Errorf("the pause does not say who and why: %+v", p)
	}
	c.Add(5 * time.Minute)
	if ok, err := op.Resume(ctx, group, "billing", "fixed"); err != nil || !ok {
		t.Fatalf("resume = %v, %v", ok, err)
	}
	if ok, err := op.Resume(ctx, group, "billing", "again"); err != nil || ok {
		t.Fatalf("a second resume = %v, %v; want nothing to lift", ok, err)
	}
	set = controls(t, s)
	if _, ok := set.Paused("billing", tick.Add(20*time.Minute)); ok {
		t.Error("billing is still paused after its resume")
	}
	if _, ok := set.Paused("billing", tick.Add(4*time.Minute)); !ok {
		t.Error("a resume rewrote the past: the tick before it is no longer paused")
	}
	if got := len(set.Pauses(c.Now())); got != 1 {
		t.Errorf("pauses in force = %d; want the group's only", got)
	}
	hist, err := s.Recent(ctx, group, "", tick.Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range hist {
		if r.State != ControlRecord || r.Actor != op.Actor {
			t.Errorf("history has %+v; want only control records with their actor", r)
		}
		actions = append(actions, r.Job+":"+r.Action)
	}
	if want := []string{"billing:resume", ":pause", "billing:pause"}; !slices.Equal(actions, want) {
		t.Errorf("history = %v; want %v, newest first", actions, want)
	}
}

func testATriggerRunsOnceBesideTheTickOfItsSecond(t *testing.T, s controlled) {
	c := clocktest.New(tick)
	op := operator(s, c)
	ctx := context.Background()
	tr, err := op.Trigger(ctx, group, "billing", "customer asked")
	if err != nil {
		t.Fatal(err)
	}
	reqs := controls(t, s).Requests(c.Now())
	if len(reqs) != 1 || reqs[0].ID != tr.ID || reqs[0].Kind != TriggerControl {
		t.Fatalf("requests = %+v", reqs)
	}
	won := 0
	for _, l := range newLedgers(s, c, "i-a", "i-b", "i-c") {
		cl, err := l.ClaimRequest(ctx, reqs[0], time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if cl.Outcome == Won {
			won++
			if err := cl.Run.Finish(ctx, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if won != 1 {
		t.Errorf("%d instances won the trigger; want 1", won)
	}
	// The scheduled tick of the same second is its own key.
	if cl, err := newLedgers(s, c, "i-a")[0].Claim(ctx, Key{Group: group, Job: "billing", Tick: tick}, ClaimOptions{}); err != nil || cl.Outcome != Won {
		t.Errorf("the tick of the trigger's second = %v, %v; want won", cl.Outcome, err)
	}
	taken, err := s.TakenAt(ctx, group, tick)
	if err != nil || !taken["billing"] || len(taken) != 1 {
		t.Errorf("taken at the tick = %v, %v", taken, err)
	}
	if c.Add(RequestWindow + time.Second); len(controls(t, s).Requests(c.Now())) != 0 {
		t.Error("a trigger older than RequestWindow is still asked")
	}
}

func testRerunAndBackfill(t *testing.T, s controlled) {
	c := clocktest.New(tick)
	ctx := context.Background()
	ls := newLedgers(s, c, "i-a", "i-b")
	k := Key{Group: group, Job: "billing", Tick: tick}
	cl, _ := ls[0].Claim(ctx, k, ClaimOptions{})
	if _, err := operator(s, c).Rerun(ctx, group, "billing", tick, "failed"); err == nil {
		t.Error("a rerun of a tick still running was accepted")
	}
	cl.Run.Finish(ctx, 3)
	c.Add(time.Hour)
	rr, err := operator(s, c).Rerun(ctx, group, "billing", tick, "failed")
	if err != nil {
		t.Fatal(err)
	}
	var runs []Record
	for range 2 {
		for _, l := range ls {
			got, err := l.ClaimRequest(ctx, rr, rr.Ticks[0], "")
			if err != nil {
				t.Fatal(err)
			}
			if got.Outcome == Won {
				got.Run.Finish(ctx, 0)
				runs = append(runs, got.Run.Record())
			}
		}
	}
	if len(runs) != 1 || runs[0].Fence != 2 || runs[0].Attempt != 2 {
		t.Fatalf("rerun runs = %+v; want one, fence 2, attempt 2", runs)
	}

	// Backfill: 5 ticks, one missed, one ran, three with no record.
	var ticks []time.Time
	for i := 1; i <= 5; i++ {
		ticks = append(ticks, tick.Add(time.Duration(i)*time.Minute))
	}
	ls[0].Note(ctx, Key{Group: group, Job: "billing", Tick: ticks[1]}, Missed, "nobody ran it")
	ran, _ := ls[0].Claim(ctx, Key{Group: group, Job: "billing", Tick: ticks[3]}, ClaimOptions{})
	ran.Run.Finish(ctx, 0)
	op := operator(s, c)
	unrun, err := op.Unrun(ctx, group, "billing", ticks)
	if err != nil || len(unrun) != 4 {
		t.Fatalf("unrun = %v, %v; want 4", unrun, err)
	}
	for round := range 2 {
		bf, err := op.Backfill(ctx, group, "billing", ticks, "outage")
		if err != nil {
			t.Fatal(err)
		}
		var got []time.Time
		for _, tk := range bf.Ticks {
			for _, l := range ls {
				cl, err := l.ClaimRequest(ctx, bf, tk, "")
				if err != nil {
					t.Fatal(err)
				}
				if cl.Outcome == Won {
					got = append(got, cl.Run.Record().Tick)
					cl.Run.Finish(ctx, 0)
				}
			}
		}
		want := []time.Time{ticks[0], ticks[1], ticks[2], ticks[4]}
		if round == 1 {
			want = nil
		}
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("backfill %d ran %v; want %v", round+1, got, want)
		}
	}
}

func testNoteAndSkip(t *testing.T, s controlled) {
	c := clocktest.New(tick.Add(time.Hour))
	ctx := context.Background()
	k := Key{Group: group, Job: "billing", Tick: tick}
	won := 0
	for _, l := range newLedgers(s, c, "i-a", "i-b", "i-c") {
		ok, err := l.Note(ctx, k, Missed, "nobody ran it")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d instances recorded the missed tick; want 1 (it is reported once)", won)
	}
	op := operator(s, c)
	next := Key{Group: group, Job: "billing", Tick: tick.Add(2 * time.Hour)}
	if err := op.Skip(ctx, group, "billing", next.Tick, "holiday"); err != nil {
		t.Fatal(err)
	}
	if err := op.Skip(ctx, group, "billing", next.Tick, "again"); !IsConflict(err) {
		t.Errorf("a second skip = %v; want a conflict", err)
	}
	cl, err := newLedgers(s, c, "i-a")[0].Claim(ctx, next, ClaimOptions{})
	if err != nil || cl.Outcome != Taken || cl.Holder == nil || cl.Holder.State != Skipped {
		t.Errorf("claim of a skipped tick = %+v, %v; want taken, skipped", cl, err)
	}
	r, _, _ := s.Get(ctx, next)
	if r.Actor != op.Actor || r.Reason != "skipped by "+op.Actor+": holiday" {
		t.Errorf("skipped record = %+v", r)
	}
}

func TestControlsOnMemory(t *testing.T) {
	for name, f := range map[string]func(*testing.T, controlled){
		"pause": testPauseCoversTicksFromItsMomentUntilItLifts, "trigger": testATriggerRunsOnceBesideTheTickOfItsSecond,
		"rerun and backfill": testRerunAndBackfill, "note and skip": testNoteAndSkip,
	} {
		t.Run(name, func(t *testing.T) { f(t, &Memory{}) })
	}
}

func TestMotoControls(t *testing.T) {
	for name, f := range map[string]func(*testing.T, controlled){
		"pause": testPauseCoversTicksFromItsMomentUntilItLifts, "trigger": testATriggerRunsOnceBesideTheTickOfItsSecond,
		"rerun and backfill": testRerunAndBackfill, "note and skip": testNoteAndSkip,
	} {
		t.Run(name, func(t *testing.T) {
			m := startMoto(t)
			f(t, m.table(t, nil))
		})
	}
}

func TestTicksBetween(t *testing.T) {
	every := func(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }
	got, more := Ticks(every, tick, tick.Add(5*time.Minute), 10)
	if len(got) != 5 || !got[0].Equal(tick.Add(time.Minute)) || more {
		t.Errorf("ticks = %v, %v", got, more)
	}
	if got, more := Ticks(every, tick, tick.Add(5*time.Minute), 3); len(got) != 3 || !more {
		t.Errorf("capped ticks = %v, %v", got, more)
	}
}

func TestUnrecordedTicksAreThoseAfterTheNewestRecordUpToTheBound(t *testing.T) {
	every := func(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }
	got, more := Unrecorded(every, tick, tick.Add(3*time.Minute+30*time.Second), 10)
	if len(got) != 3 || !got[0].Equal(tick.Add(time.Minute)) || more != 0 {
		t.Errorf("unrecorded = %v, %d; want the 3 ticks after the newest record", got, more)
	}
	if got, more := Unrecorded(every, tick, tick.Add(20*time.Minute), 5); len(got) != 5 || !got[4].Equal(tick.Add(20*time.Minute)) || more != 15 {
		t.Errorf("capped = %v, %d; want the newest 5 and 15 left out", got, more)
	}
	if got, _ := Unrecorded(every, time.Time{}, tick, 5); got != nil {
		t.Errorf("a job with no record has unrecorded ticks %v", got)
	}
}

func TestNewestTickPassesOverTriggersAndControls(t *testing.T) {
	m := &Memory{}
	c := clocktest.New(tick)
	ctx := context.Background()
	l := newLedgers(m, c, "i-a")[0]
	cl, _ := l.Claim(ctx, Key{Group: group, Job: "billing", Tick: tick}, ClaimOptions{})
	cl.Run.Finish(ctx, 0)
	c.Add(10 * time.Minute)
	op := operator(m, c)
	tr, _ := op.Trigger(ctx, group, "billing", "")
	l.ClaimRequest(ctx, tr, time.Time{}, "")
	op.Pause(ctx, group, "billing", time.Time{}, "")
	if got, err := l.NewestTick(ctx, group, "billing", tick.Add(-time.Hour), c.Now()); err != nil || !got.Equal(tick) {
		t.Errorf("newest tick = %v, %v; want %v", got, err, tick)
	}
	later, _ := l.Claim(ctx, Key{Group: group, Job: "billing", Tick: tick.Add(20 * time.Minute)}, ClaimOptions{})
	later.Run.Finish(ctx, 0)
	if got, err := l.NewestTick(ctx, group, "billing", tick.Add(-time.Hour), c.Now()); err != nil || !got.Equal(tick) {
		t.Errorf("newest tick up to now = %v, %v; want %v (a tick after until is passed over)", got, err, tick)
	}
}

// TestMotoRunningListsOnlyTheRunsRecordedRunning: the orphans' look reads
// one job's partition, filtered by DynamoDB to the runs still running.
func TestMotoRunningListsOnlyTheRunsRecordedRunning(t *testing.T) {
	m := startMoto(t)
	c := clocktest.New(tick)
	d := m.table(t, c.Now)
	l := newLedgers(d, c, "i-a")[0]
	ctx := context.Background()
	for i := range 3 {
		cl, err := l.Claim(ctx, Key{Group: group, Job: "billing", Tick: tick.Add(time.Duration(i) * time.Minute)}, ClaimOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i != 1 {
			cl.Run.Finish(ctx, 0)
		}
	}
	l.Claim(ctx, Key{Group: group, Job: "report", Tick: tick}, ClaimOptions{})
	got, err := d.Running(ctx, group, "billing", tick.Add(-time.Hour))
	if err != nil || len(got) != 1 || !got[0].Tick.Equal(tick.Add(time.Minute)) || got[0].State != Running {
		t.Errorf("running = %+v, %v; want billing's one run still running", got, err)
	}
}

// droppedAnswer applies the first Create and Swap but loses their answers.
type droppedAnswer struct {
	*Memory
	dropped map[string]bool
}

func (d *droppedAnswer) drop(op string, err error) error {
	if err == nil && !d.dropped[op] {
		d.dropped[op] = true
		return errors.New("the answer was lost")
	}
	return err
}

func (d *droppedAnswer) Create(ctx context.Context, r Record) error {
	return d.drop("Create", d.Memory.Create(ctx, r))
}

func (d *droppedAnswer) Swap(ctx context.Context, prev, r Record) error {
	return d.drop("Swap", d.Memory.Swap(ctx, prev, r))
}

// TestARequestsClaimWhoseAnswerWasLostIsRecognisedOnRetry: a backfill's
// claim (a create) and a rerun's (a swap) applied with their answers lost
// are found, on the retry with the same token, to be this claim's own:
// the run runs, rather than the tick staying claimed by nobody who runs it.
func TestARequestsClaimWhoseAnswerWasLostIsRecognisedOnRetry(t *testing.T) {
	c := clocktest.New(tick.Add(time.Hour))
	ctx := context.Background()
	s := &droppedAnswer{Memory: &Memory{}, dropped: map[string]bool{}}
	l := &Ledger{Store: s, Owner: "i-a", Clock: clock.Func(c.Now), Lease: time.Minute}
	bf := Control{Group: group, Kind: BackfillControl, Job: "billing", ID: "bf1", Ticks: []time.Time{tick}}
	if _, err := l.ClaimRequest(ctx, bf, tick, "tok1"); err == nil {
		t.Fatal("the lost answer was not an error")
	}
	cl, err := l.ClaimRequest(ctx, bf, tick, "tok1")
	if err != nil || cl.Outcome != Won {
		t.Fatalf("the retry = %v, %v; want its own claim, won", cl.Outcome, err)
	}
	s.dropped["Swap"] = true // the finish's answer arrives
	if err := cl.Run.Finish(ctx, 0); err != nil {
		t.Fatal(err)
	}
	s.dropped["Swap"] = false
	rr := Control{Group: group, Kind: RerunControl, Job: "billing", ID: "rr1", Ticks: []time.Time{tick}}
	if _, err := l.ClaimRequest(ctx, rr, tick, "tok2"); err == nil {
		t.Fatal("the lost answer was not an error")
	}
	cl, err = l.ClaimRequest(ctx, rr, tick, "tok2")
	if err != nil || cl.Outcome != Won || cl.Run.Record().Fence != 2 {
		t.Fatalf("the rerun's retry = %+v, %v; want its own claim, fence 2", cl, err)
	}
}
