package schedule

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// TestSchedulerAcrossFallBackWithReloadAndRestart drives the scheduler
// minute by minute through the night America/New_York falls back
// (2 Nov 2025, 02:00 EDT -> 01:00 EST), with a SIGHUP inside the first
// pass of the repeated hour and a restart inside the second, and counts
// the runs: fixed-time jobs run in the first pass only, wildcard jobs by
// elapsed time.
func TestSchedulerAcrossFallBackWithReloadAndRestart(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const tab = `CRON_TZ=America/New_York
# name: fixed
0,30 1 * * * echo fixed
# name: hourly
0 * * * * echo hourly
# name: half
*/30 * * * * echo half
`
	path := writeCrontab(t, dir, tab)
	logs := newLogSink()
	opts := func(c *fakeClock, reload chan os.Signal) Options {
		return Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1,
			Clock: c, Reload: reload, AllowOverlap: true}
	}
	step := func(c *fakeClock, from, to time.Time, at func(time.Time)) {
		for m := from.Add(time.Minute); !m.After(to); m = m.Add(time.Minute) {
			c.Advance(t, m)
			if at != nil {
				at(m)
			}
		}
	}

	start := time.Date(2025, 11, 2, 0, 55, 0, 0, ny)          // 00:55 EDT
	reloadAt := time.Date(2025, 11, 2, 5, 45, 0, 0, time.UTC) // 01:45 EDT
	restartAt := time.Date(2025, 11, 2, 6, 5, 0, 0, time.UTC) // 01:05 EST
	end := time.Date(2025, 11, 2, 7, 35, 0, 0, time.UTC)      // 02:35 EST

	clock := newFakeClock(start)
	reload := make(chan os.Signal, 1)
	stop := startRun(t, opts(clock, reload))
	logs.wait(t, "schedule loaded")
	step(clock, start, restartAt, func(m time.Time) {
		if m.Equal(reloadAt) {
			writeCrontab(t, dir, tab)
			reload <- syscall.SIGHUP
			logs.wait(t, "schedule reloaded")
		}
	})
	// Every job due before the restart has started.
	logs.waitN(t, 2+2+3, "job started")
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	clock2 := newFakeClock(restartAt)
	startRun(t, opts(clock2, make(chan os.Signal, 1)))
	logs.waitN(t, 2, "schedule loaded")
	step(clock2, restartAt, end, nil)
	logs.waitN(t, 2+3+6, "job started")

	want := map[string][]string{
		"fixed":  {"2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00"},
		"hourly": {"2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T02:00:00-05:00"},
		"half": {"2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-02T01:00:00-05:00",
			"2025-11-02T01:30:00-05:00", "2025-11-02T02:00:00-05:00", "2025-11-02T02:30:00-05:00"},
	}
	for job, ticks := range want {
		var got []string
		for _, r := range logs.find("job started", "job", job) {
			got = append(got, r.Attrs["scheduled_at"])
		}
		// Runs start in goroutines: their records may come in any order.
		slices.SortFunc(got, func(a, b string) int {
			ta, _ := time.Parse(time.RFC3339, a)
			tb, _ := time.Parse(time.RFC3339, b)
			return ta.Compare(tb)
		})
		if !slices.Equal(got, ticks) {
			t.Errorf("%s ran at %v\nwant %v", job, got, ticks)
		}
	}
}
