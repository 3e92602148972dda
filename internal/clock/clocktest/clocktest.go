// Package clocktest has the one manual clock of leadergate's tests: a
// clock.Clock that moves only when a test moves it, so that every reading
// of the time and every wait measured on it happen where the test wants,
// far from any boundary. Only _test.go files import it.
package clocktest

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Bound is how long WaitFor waits for the code under test to start waiting:
// long enough for a loaded machine, short enough that a hang fails rather
// than stalls.
const Bound = 15 * time.Second

// Manual is a clock that moves only when told to. Its zero value is not
// usable; make one with New.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	added   chan struct{} // poked when a waiter is added
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// New returns a manual clock showing now.
func New(now time.Time) *Manual {
	return &Manual{now: now, added: make(chan struct{}, 1)}
}

// Now implements clock.Clock.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After implements clock.Clock: the channel gets the time once the clock
// has been moved d past now (at once when d <= 0).
func (c *Manual) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.wait(c.now.Add(d), ch)
	return ch
}

// Until is clock.Until: the channel gets the time once the clock has been
// moved to t (at once when it shows t already), however the caller's
// reading of the time and the test's move interleave.
func (c *Manual) Until(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.wait(t, ch)
	return ch
}

// wait adds a waiter; c.mu is held.
func (c *Manual) wait(at time.Time, ch chan time.Time) {
	c.waiters = append(c.waiters, waiter{at: at, ch: ch})
	select {
	case c.added <- struct{}{}:
	default:
	}
}

// Set moves the clock to t and wakes the waiters due by then.
func (c *Manual) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// Add moves the clock d forward.
func (c *Manual) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// WaitFor waits until something waits on the clock for a time at or before
// at: the code under test sleeps until then, so moving the clock to at
// wakes it. It fails the test after Bound.
func (c *Manual) WaitFor(tb testing.TB, at time.Time) {
	tb.Helper()
	deadline := time.After(Bound)
	for {
		c.mu.Lock()
		found := slices.ContainsFunc(c.waiters, func(w waiter) bool { return !w.at.After(at) })
		c.mu.Unlock()
		if found {
			return
		}
		select {
		case <-c.added:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			tb.Fatalf("nothing waits on the clock for %v within %s", at, Bound)
		}
	}
}

// Advance waits until the code under test sleeps until at most to, then
// moves the clock there.
func (c *Manual) Advance(tb testing.TB, to time.Time) {
	tb.Helper()
	c.WaitFor(tb, to)
	c.Set(to)
}
