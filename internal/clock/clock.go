// Package clock is leadergate's one view of time. main builds one Clock and
// hands it to the election, the state dir lock, the gate and the scheduler,
// so tests can place every reading of the time (and every wait measured
// against it) where they want, far from any boundary.
//
// Three things stay on real time on purpose, because what they bound lives
// in real time whatever a test's clock says: a run's measured duration; the
// grace between SIGTERM and SIGKILL of a process group, and the scheduler's
// bound on waiting for its jobs at shutdown (a fake clock that is never
// advanced must not leave a real process unkilled); and network deadlines
// inside the AWS SDK's own clients and the pings.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	// After sends the time once d has passed (at once when d <= 0).
	After(d time.Duration) <-chan time.Time
}

// Real is the system clock.
type Real struct{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Until sends the time once c shows t (at once when t has passed). A clock
// that can wait for an instant itself (a test's manual clock) is asked to:
// computed as After(t - Now()), a wait whose Now was read just before the
// clock moved would be registered for later than t, and moving the clock to
// t would not wake it.
func Until(c Clock, t time.Time) <-chan time.Time {
	c = Or(c)
	if u, ok := c.(interface {
		Until(time.Time) <-chan time.Time
	}); ok {
		return u.Until(t)
	}
	return c.After(t.Sub(c.Now()))
}

// Or returns c, or Real when c is nil, so a zero-valued field means the
// system clock.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Func is a clock whose Now is f and whose waits are real: for tests that fix
// or step the time of day but want timeouts to fire as usual.
func Func(f func() time.Time) Clock { return funcClock(f) }

type funcClock func() time.Time

func (f funcClock) Now() time.Time                       { return f() }
func (funcClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// WithTimeoutCause is context.WithTimeoutCause measured on c: the context
// ends with cause once d has passed on c.
func WithTimeoutCause(ctx context.Context, c Clock, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	switch Or(c).(type) {
	case Real, funcClock:
		return context.WithTimeoutCause(ctx, d, cause)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	fire := c.After(d)
	go func() {
		select {
		case <-fire:
			cancel(cause)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// WithTimeout is WithTimeoutCause with context.DeadlineExceeded as cause.
func WithTimeout(ctx context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	return WithTimeoutCause(ctx, c, d, context.DeadlineExceeded)
}
