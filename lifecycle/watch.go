package lifecycle

import (
	"context"
	"log/slog"
	"time"
)

// DefaultInterval is how often the Watcher polls: a Spot notice comes two
// minutes ahead, and a poll is three local HTTP requests.
const DefaultInterval = 5 * time.Second

// pollTimeout bounds one path's read: IMDS answers in milliseconds or not
// at all.
const pollTimeout = 2 * time.Second

// Metadata reads one IMDS path (elect.AWS in production). found is false on
// a 404.
type Metadata interface {
	Metadata(ctx context.Context, path string) (value string, found bool, err error)
}

// Watcher polls the lifecycle paths of IMDS.
type Watcher struct {
	Metadata Metadata
	// Rebalance also drains on a rebalance recommendation.
	Rebalance bool
	Logger    *slog.Logger
}

// Poll reads every watched path once. A path that errors is logged at debug
// level and its Reading carries the error; the others still count.
func (w *Watcher) Poll(ctx context.Context) Readings {
	read := func(path string) Reading {
		ctx, cancel := context.WithTimeout(ctx, pollTimeout)
		defer cancel()
		v, found, err := w.Metadata.Metadata(ctx, path)
		if err != nil && w.Logger != nil {
			w.Logger.Debug("IMDS lifecycle path unreadable; retried at the next poll", "path", path, "error", err)
		}
		return Reading{Value: v, Found: found, Err: err}
	}
	r := Readings{Spot: read(PathSpot), TargetState: read(PathTargetState)}
	if w.Rebalance {
		r.Rebalance = read(PathRebalance)
	}
	return r
}

// Check polls once and interprets the answer.
func (w *Watcher) Check(ctx context.Context) (Notice, Readings, bool) {
	r := w.Poll(ctx)
	n, ok := Interpret(r, w.Rebalance)
	return n, r, ok
}
