package schedule

import (
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
	clock.advance(t, at03)
	// The run now waits for its jitter on the clock, due before 03:00:30.
	clock.waitFor(t, at03.Add(30*time.Second))
	if got := logs.find("job started"); len(got) != 0 {
		t.Fatalf("started at the tick despite the jitter: %v", got)
	}
	clock.set(at03.Add(30 * time.Second))
	started := logs.wait(t, "job started", "job", "spread")
	if started.Attrs["scheduled_at"] != "2025-11-25T03:00:00Z" {
		t.Errorf("scheduled_at %q, want the nominal tick", started.Attrs["scheduled_at"])
	}
	logs.wait(t, MsgJobOutput, "line", "at=2025-11-25T03:00:00Z")
}
