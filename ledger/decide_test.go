package ledger

import (
	"testing"
	"time"
)

func every(d time.Duration) func(time.Time) time.Time {
	return func(t time.Time) time.Time { return t.Truncate(d).Add(d) }
}

func TestClaimAt(t *testing.T) {
	if got := ClaimAt(tick, true, 15*time.Second, 0, 0); !got.Equal(tick) {
		t.Errorf("leader claims at %s", got)
	}
	if got := ClaimAt(tick, false, 15*time.Second, 0, 0); !got.Equal(tick.Add(15 * time.Second)) {
		t.Errorf("follower claims at %s", got)
	}
	// "# jitter: 1m": the leader claims after its own delay, never after
	// the bound; the others after the latest the leader could claim, plus
	// the takeover delay.
	if got := ClaimAt(tick, true, 15*time.Second, time.Minute, 40*time.Second); !got.Equal(tick.Add(40 * time.Second)) {
		t.Errorf("leader with jitter claims at %s", got)
	}
	if got := ClaimAt(tick, false, 15*time.Second, time.Minute, 40*time.Second); !got.Equal(tick.Add(75 * time.Second)) {
		t.Errorf("follower with jitter claims at %s, want tick + 1m + 15s", got)
	}
}

func TestCatchUp(t *testing.T) {
	hourly := every(time.Hour)
	at := func(h, m int) time.Time { return time.Date(2026, 3, 14, h, m, 0, 0, time.UTC) }
	cases := []struct {
		name   string
		now    time.Time
		window time.Duration
		newest time.Time
		want   time.Time // zero: none
	}{
		{"the most recent missed tick in the window, once", at(5, 30), 3 * time.Hour, at(1, 0), at(5, 0)},
		{"no window, no catch-up", at(5, 30), 0, at(1, 0), time.Time{}},
		{"never a tick older than the job's newest record", at(5, 30), 3 * time.Hour, at(5, 0), time.Time{}},
		{"a job with no record catches up inside the window", at(5, 30), 45 * time.Minute, time.Time{}, at(5, 0)},
		{"nothing when the window holds no tick", at(5, 30), 20 * time.Minute, time.Time{}, time.Time{}},
		{"the tick at the window's start counts", at(5, 30), 30 * time.Minute, time.Time{}, at(5, 0)},
		{"a tick at now is the scheduler's own, not a catch-up", at(5, 0), time.Hour, at(3, 0), at(4, 0)},
	}
	for _, tc := range cases {
		got, ok := CatchUp(hourly, tc.now, tc.window, tc.newest)
		if ok != !tc.want.IsZero() || ok && !got.Equal(tc.want) {
			t.Errorf("%s: CatchUp = %s, %t; want %s", tc.name, got, ok, tc.want)
		}
	}
}

func TestCatchUpOfAnEverySecondJobOverADayEnds(t *testing.T) {
	now := tick.Add(500 * time.Millisecond)
	got, ok := CatchUp(every(time.Second), now, 24*time.Hour, time.Time{})
	if !ok || !got.Equal(tick) {
		t.Errorf("CatchUp = %s, %t; want %s", got, ok, tick)
	}
}
