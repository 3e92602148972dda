package schedule

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// notifyBuffer collects a logger's output and pokes changed on each write.
type notifyBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (w *notifyBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return w.b.Write(p)
}

func (w *notifyBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor waits until the output holds a line containing s.
func (w *notifyBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(wait)
	for !strings.Contains(w.String(), s) {
		select {
		case <-w.changed:
		case <-deadline:
			t.Fatalf("no %s in %s:\n%s", s, wait, w.String())
		}
	}
}

// A job that prints the scheduler's own words is still told apart from the
// scheduler's record, and durations are seconds in numbers.
func TestJSONLogRecords(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, `CRON_TZ=UTC
# name: liar
0 3 * * * echo job finished; echo 'job failed' >&2
`)
	clock := newFakeClock(t0)
	out := &notifyBuffer{changed: make(chan struct{}, 1)}
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: NewLogger(out, "json", slog.LevelInfo), Refresh: -1, Clock: clock})
	clock.Advance(t, at03)
	out.waitFor(t, `"msg":"job finished"`)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	var finished, started, output []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not a JSON record: %q: %v", l, err)
		}
		if ts, _ := r["time"].(string); ts == "" {
			t.Errorf("record without time: %q", l)
		} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("time %q is not RFC 3339: %v", ts, err)
		}
		for k, v := range r {
			if k == "duration" || k == "lateness" {
				t.Errorf("%s = %v: durations are logged as %s_s, in seconds", k, v, k)
			}
		}
		switch r["msg"] {
		case "job finished":
			finished = append(finished, r)
		case "job started":
			started = append(started, r)
		case MsgJobOutput:
			output = append(output, r)
		}
	}
	if len(finished) != 1 {
		t.Fatalf("%d \"job finished\" records, want the scheduler's one:\n%s", len(finished), out)
	}
	f := finished[0]
	if d, ok := f["duration_s"].(float64); !ok || d < 0 || d > wait.Seconds() {
		t.Errorf("duration_s = %#v, want a number of seconds", f["duration_s"])
	}
	if f["job"] != "liar" || f["exit_code"] != float64(0) || f["level"] != "INFO" {
		t.Errorf("finish record %v", f)
	}
	if len(output) != 2 {
		t.Fatalf("%d job output records, want 2:\n%s", len(output), out)
	}
	// The two streams are copied concurrently: their order is not fixed.
	lines := map[string]string{}
	for _, r := range output {
		if r["job"] != "liar" || r["level"] != "INFO" {
			t.Errorf("output record %v, want job liar at INFO", r)
		}
		s, _ := r["stream"].(string)
		lines[s], _ = r["line"].(string)
	}
	if lines["stdout"] != "job finished" || lines["stderr"] != "job failed" {
		t.Errorf("output lines by stream %q, want stdout \"job finished\", stderr \"job failed\"", lines)
	}
	if len(started) != 1 || started[0]["lateness_s"] != float64(0) {
		t.Errorf("job started records %v, want one with lateness_s 0", started)
	}
}

func TestTextLogDurationsAreHuman(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{8123456789 * time.Nanosecond, "duration=8.1s"},
		{90*time.Second + 40*time.Millisecond, "duration=1m30s"},
		{350123456 * time.Nanosecond, "duration=350ms"},
		{1234567 * time.Nanosecond, "duration=1ms"},
		{123456 * time.Nanosecond, "duration=123µs"},
		{0, "duration=0s"},
	} {
		var b bytes.Buffer
		NewLogger(&b, "text", slog.LevelInfo).Info("job finished", "duration", tc.d)
		if !strings.Contains(b.String(), " "+tc.want+"\n") {
			t.Errorf("%v logged as %q, want %s", tc.d, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	NewLogger(&b, "json", slog.LevelInfo).Info("job finished", "duration", 8123456789*time.Nanosecond)
	if !strings.Contains(b.String(), `"duration_s":8.123456789`) {
		t.Errorf("json: %s", b.String())
	}
}
