package ledger

import (
	"context"
	"sync"
	"time"
)

// A follower's look at a tick, batched: every job due at one tick asks the
// same questions of the ledger (is the tick taken? has its run ended?), so
// one scheduler asks them once per tick for all its jobs, with one
// eventually consistent Query of the group index and, when it must watch
// their holders, one eventually consistent BatchGetItem of the records
// found, instead of one consistent GetItem per job. A stale answer is safe: a tick read untaken is claimed with the
// conditional create, which a record written meanwhile refuses (one
// refused write), and a run read still running is watched as before: a
// consistent look at the end of its lease.

// tickBatch holds one scheduler's answers per tick.
type tickBatch struct {
	mu    sync.Mutex
	ticks map[time.Time]*tickAnswers
}

type tickAnswers struct {
	taken     map[string]bool
	takenErr  error
	takenOnce sync.Once
	recs      map[string]Record
	recsErr   error
	recsOnce  sync.Once
}

// batchKeep is how long a tick's answers are kept.
const batchKeep = 2 * time.Hour

func (b *tickBatch) at(tick time.Time) *tickAnswers {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ticks == nil {
		b.ticks = map[time.Time]*tickAnswers{}
	}
	a := b.ticks[tick]
	if a == nil {
		for t := range b.ticks {
			if t.Before(tick.Add(-batchKeep)) {
				delete(b.ticks, t)
			}
		}
		a = &tickAnswers{}
		b.ticks[tick] = a
	}
	return a
}

// batchStore is what the batched look needs of a store.
type batchStore interface {
	TakenAt(ctx context.Context, group string, tick time.Time) (map[string]bool, error)
	Records(ctx context.Context, keys []Key) ([]Record, error)
}

// followerLook is a scheduler's (a watching follower's) first look at k,
// batched with the other jobs of its tick: one Query of the tick's taken
// jobs and, when k's is taken, one read of all their records. done means
// the claim's answer is "taken elsewhere" by holder; claim means the tick
// was untaken a moment ago: create the record at once rather than read it
// first; running is a holder still running, to watch. None of them: the
// batch could not tell, look as before. An error means the ledger could
// not be asked (after the retries of call), as a claim's error does.
// Prefix mode (no watch, one job per process) reads its one record as
// before: a batch of one saves nothing and would not name the holder.
func (t *Turn) followerLook(ctx context.Context, k Key, watch bool) (done bool, holder *Record, claim bool, running *Record, err error) {
	bs, ok := t.Ledger.Store.(batchStore)
	if !ok || !watch || k.Ref != "" {
		return false, nil, false, nil, nil
	}
	a := t.batch.at(k.Tick)
	a.takenOnce.Do(func() {
		_, a.takenErr = t.call(ctx, func(c context.Context) (Claim, error) {
			var err error
			a.taken, err = bs.TakenAt(c, t.Group, k.Tick)
			return Claim{}, err
		})
	})
	switch {
	case a.takenErr != nil:
		return false, nil, false, nil, a.takenErr
	case !a.taken[k.Job]:
		return false, nil, true, nil, nil
	}
	a.recsOnce.Do(func() {
		var keys []Key
		for job := range a.taken {
			keys = append(keys, Key{Group: t.Group, Job: job, Tick: k.Tick})
		}
		_, a.recsErr = t.call(ctx, func(c context.Context) (Claim, error) {
			recs, err := bs.Records(c, keys)
			a.recs = map[string]Record{}
			for _, r := range recs {
				a.recs[r.Job] = r
			}
			return Claim{}, err
		})
	})
	r, ok := a.recs[k.Job]
	switch {
	case a.recsErr != nil:
		return false, nil, false, nil, a.recsErr
	case !ok: // listed a moment ago, not read now: look as before
		return false, nil, false, nil, nil
	case r.State == Running:
		return false, nil, false, &r, nil
	}
	return true, &r, false, nil, nil
}
