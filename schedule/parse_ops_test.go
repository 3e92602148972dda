package schedule

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// TestPingAndOnFailureDirectives: # ping: takes an http(s) URL (a trailing
// slash dropped, as URL/start is appended), # on-failure: a command; a bad
// value is a line error naming the fix.
func TestPingAndOnFailureDirectives(t *testing.T) {
	c, err := Parse(strings.NewReader("# ping: https://hc-ping.com/abc/\n# on-failure: /usr/local/bin/alert --job x\n0 3 * * * true\n"), "jobs.cron")
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Jobs[0]; j.Ping != "https://hc-ping.com/abc" || j.OnFailure != "/usr/local/bin/alert --job x" {
		t.Errorf("ping %q, on-failure %q", j.Ping, j.OnFailure)
	}
	for _, bad := range []string{"# ping: hc-ping.com/abc", "# ping: ftp://x/y", "# on-failure:"} {
		_, err := Parse(strings.NewReader(bad+"\n0 3 * * * true\n"), "jobs.cron")
		if err == nil || !strings.Contains(err.Error(), "jobs.cron:1:") {
			t.Errorf("%q: %v, want an error at line 1", bad, err)
		}
	}
}

// TestJitterDelaysTheRunNotTheTick: a job with "# jitter: 30s" starts
// within 30s after its tick, not at it, and its LEADERGATE_SCHEDULED_AT is
// still the nominal tick.
func TestJitterDelaysTheRunNotTheTick(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: spread\n# jitter: 30s\n0 3 * * * echo \"at=$LEADERGATE_SCHEDULED_AT\"\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, at03)
	// The run now waits for its jitter on the clock, due before 03:00:30.
	clock.WaitFor(t, at03.Add(30*time.Second))
	if got := logs.find("job started"); len(got) != 0 {
		t.Fatalf("started at the tick despite the jitter: %v", got)
	}
	clock.Set(at03.Add(30 * time.Second))
	started := logs.wait(t, "job started", "job", "spread")
	if started.Attrs["scheduled_at"] != "2025-11-25T03:00:00Z" {
		t.Errorf("scheduled_at %q, want the nominal tick", started.Attrs["scheduled_at"])
	}
	logs.wait(t, MsgJobOutput, "line", "at=2025-11-25T03:00:00Z")
}

// TestRetryRunsAFailedJobAgain: "# retry: 2 backoff 10s" runs a failing
// job three times in all under the same tick, 5-10s then 10-20s apart on
// the scheduler's clock, with LEADERGATE_ATTEMPT 1, 2, 3; a job that
// succeeds is not retried.
func TestRetryRunsAFailedJobAgain(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: flaky\n# retry: 2 backoff 10s\n0 3 * * * echo \"attempt=$LEADERGATE_ATTEMPT at=$LEADERGATE_SCHEDULED_AT\"; exit 1\n"+
		"# name: fine\n# retry: 2 backoff 10s\n0 3 * * * true\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock})
	logs.wait(t, "schedule loaded")
	clock.Advance(t, at03)
	logs.waitN(t, 1, "job failed", "job", "flaky")
	logs.waitN(t, 1, "job will run again", "job", "flaky")
	clock.Advance(t, at03.Add(10*time.Second))
	logs.waitN(t, 2, "job failed", "job", "flaky")
	logs.waitN(t, 2, "job will run again", "job", "flaky")
	clock.Advance(t, at03.Add(30*time.Second))
	logs.waitN(t, 3, "job failed", "job", "flaky")
	for n := 1; n <= 3; n++ {
		logs.wait(t, MsgJobOutput, "line", "attempt="+strconv.Itoa(n)+" at=2025-11-25T03:00:00Z")
	}
	if got := logs.find("job will run again", "job", "fine"); len(got) != 0 {
		t.Errorf("a job that succeeded was retried: %v", got)
	}
	again := logs.find("job will run again", "job", "flaky")
	if len(again) != 2 || again[0].Attrs["attempt"] != "2" || again[1].Attrs["attempt"] != "3" {
		t.Errorf("retries announced: %v", again)
	}
}

func TestRetryDelayDoublesCapsAndJitters(t *testing.T) {
	top := func(d time.Duration) time.Duration { return d - 1 }
	zero := func(time.Duration) time.Duration { return 0 }
	for _, tc := range []struct {
		n        int
		low, top time.Duration
	}{
		{1, 5 * time.Second, 10 * time.Second},
		{2, 10 * time.Second, 20 * time.Second},
		{3, 20 * time.Second, 40 * time.Second},
		{20, 30 * time.Minute, time.Hour},
	} {
		if got := retryDelay(10*time.Second, tc.n, zero); got != tc.low {
			t.Errorf("retry %d, lowest: %s, want %s", tc.n, got, tc.low)
		}
		if got := retryDelay(10*time.Second, tc.n, top); got != tc.top {
			t.Errorf("retry %d, highest: %s, want %s", tc.n, got, tc.top)
		}
	}
	for _, bad := range []string{"3", "3 backoff", "0 backoff 1s", "11 backoff 1s", "3 backoff -1s", "3 after 1s"} {
		var j Job
		if err := setRetry(&j, bad); err == nil {
			t.Errorf("# retry: %s accepted", bad)
		}
	}
}
