package schedule

import (
	"context"
	"math/rand/v2"
	"time"
)

// Random waits that spread a fleet's work: "# jitter:" before a run and
// the backoff of "# retry:" between attempts.

// jitter waits a random time below j.Jitter ("# jitter:"), on the
// scheduler's clock; false when ctx ends first.
func (r *runner) jitter(ctx context.Context, j Job) bool {
	if j.Jitter <= 0 {
		return true
	}
	select {
	case <-ctx.Done():
		return false
	case <-r.clock.After(rand.N(j.Jitter)):
		return true
	}
}

// maxRetryDelay caps the exponential backoff of "# retry:".
const maxRetryDelay = time.Hour

// retryDelay is the pause before retry n (1 for the first): backoff
// doubled at each retry, capped at maxRetryDelay, then jittered to a
// random time in its upper half so that a fleet's retries spread out.
// rnd(d) returns a random duration in [0, d).
func retryDelay(backoff time.Duration, n int, rnd func(time.Duration) time.Duration) time.Duration {
	d := backoff
	for i := 1; i < n && d < maxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, maxRetryDelay)
	return d/2 + rnd(d/2+1)
}

func randN(d time.Duration) time.Duration { return rand.N(d) }
