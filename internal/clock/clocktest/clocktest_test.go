package clocktest

import (
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
)

// TestAWaitForAnInstantWakesHoweverTheMoveInterleaves: code that read the
// time, then was overtaken by the test's move, then began to wait for an
// instant, wakes at that instant. Asked as After(instant - what it read),
// it would wait one step past the move and the test would hang.
func TestAWaitForAnInstantWakesHoweverTheMoveInterleaves(t *testing.T) {
	start := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	at := start.Add(time.Second)
	c := New(start)
	read := c.Now()
	c.Set(at) // the test moves the clock between the read and the wait
	select {
	case got := <-clock.Until(c, at):
		if !got.Equal(at) {
			t.Errorf("woke at %v, want %v", got, at)
		}
	default:
		t.Fatal("a wait for an instant already shown did not wake")
	}
	late := c.After(at.Sub(read))
	c.Set(at.Add(time.Second - time.Nanosecond))
	select {
	case <-late:
		t.Fatal("the relative wait woke before its own end; the test above proves nothing")
	default:
	}

	later := at.Add(time.Minute)
	ch := clock.Until(c, later)
	c.Set(later.Add(-time.Nanosecond))
	select {
	case <-ch:
		t.Fatal("woke before its instant")
	default:
	}
	c.Set(later)
	select {
	case <-ch:
	default:
		t.Fatal("did not wake at its instant")
	}
}
