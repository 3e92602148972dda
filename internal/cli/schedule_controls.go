package cli

import (
	"context"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/ledger"
	"github.com/leadergate/leadergate/schedule"
)

// missedWindow is how far back a starting scheduler looks for ticks nobody
// ran, and missedLimit how many of a job's it records one by one.
const (
	missedWindow = 24 * time.Hour
	missedLimit  = 10
)

// scheduleControls is schedule.Controls on the ledger's Controller and
// the scheduler's Turn (whose claim a request's run takes).
type scheduleControls struct {
	c    *ledger.Controller
	turn *ledger.Turn
}

var _ schedule.Controls = scheduleControls{}

func (s scheduleControls) Read(ctx context.Context) (schedule.ControlView, error) {
	set, err := s.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	return controlView{set, s.c.Group}, nil
}

func (s scheduleControls) Note(ctx context.Context, job string, tick time.Time, missed bool, reason string) (bool, error) {
	state := ledger.Skipped
	if missed {
		state = ledger.Missed
	}
	return s.c.Note(ctx, job, tick, state, reason)
}

func (s scheduleControls) Settled(jitter time.Duration) time.Duration { return s.c.Settled(jitter) }

func (s scheduleControls) Missed(ctx context.Context, job string, next func(time.Time) time.Time, until time.Time) ([]time.Time, int, error) {
	return s.c.Missed(ctx, job, next, until, missedWindow, missedLimit)
}

func (s scheduleControls) Take(ctx context.Context, q schedule.Request, tick time.Time, turn gate.TurnRequest) (gate.Claim, error) {
	c := ledger.Control{Group: s.c.Group, Kind: ledger.ControlKind(q.Kind), Job: q.Job, ID: q.ID, Actor: q.Actor, Ticks: q.Ticks}
	if c.Kind == ledger.TriggerControl && len(q.Ticks) == 1 {
		c.At = q.Ticks[0]
	}
	return s.turn.TakeRequest(ctx, c, tick, q.Seen, turn)
}

type controlView struct {
	set   ledger.ControlSet
	group string
}

func (v controlView) Requests(now time.Time) []schedule.Request {
	var out []schedule.Request
	for _, c := range v.set.Requests(now) {
		q := schedule.Request{ID: c.ID, Kind: string(c.Kind), Job: c.Job, Actor: c.Actor, Ticks: c.Ticks}
		if c.Kind == ledger.TriggerControl {
			q.Ticks = []time.Time{c.RunKey().Tick} // its run's own tick
		}
		out = append(out, q)
	}
	return out
}

func (v controlView) Paused(job string, tick time.Time) (string, bool) {
	p, ok := v.set.Paused(job, tick)
	if !ok {
		return "", false
	}
	return p.Describe(), true
}
