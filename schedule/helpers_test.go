package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

// wait bounds every wait of these tests: long enough for a loaded machine,
// short enough that a hang fails rather than stalls.
const wait = 15 * time.Second

// fakeClock is the tests' manual clock.
type fakeClock = clocktest.Manual

func newFakeClock(now time.Time) *fakeClock { return clocktest.New(now) }

// record is one captured log record, attributes flattened to strings.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func (r record) String() string {
	keys := make([]string, 0, len(r.Attrs))
	for k := range r.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", r.Level, r.Msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, r.Attrs[k])
	}
	return b.String()
}

// logSink captures records, for tests to wait on.
type logSink struct {
	mu      sync.Mutex
	records []record
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{}, 1)} }

func (s *logSink) logger() *slog.Logger { return slog.New(&sinkHandler{sink: s}) }

func (s *logSink) all() []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.records)
}

// find returns the records matching msg and the given attribute pairs.
func (s *logSink) find(msg string, kv ...string) []record {
	var out []record
	for _, r := range s.all() {
		if r.Msg != msg {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if r.Attrs[kv[i]] != kv[i+1] {
				ok = false
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// waitN waits until n records match and returns them.
func (s *logSink) waitN(t *testing.T, n int, msg string, kv ...string) []record {
	t.Helper()
	deadline := time.After(wait)
	for {
		if got := s.find(msg, kv...); len(got) >= n {
			return got
		}
		select {
		case <-s.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %d records %q %v after %v; log:\n%s", n, msg, kv, wait, s)
		}
	}
}

func (s *logSink) wait(t *testing.T, msg string, kv ...string) record {
	t.Helper()
	return s.waitN(t, 1, msg, kv...)[0]
}

func (s *logSink) String() string {
	var b strings.Builder
	for _, r := range s.all() {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

type sinkHandler struct {
	sink  *logSink
	attrs []slog.Attr
}

func (h *sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	rec := record{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.String()
		return true
	})
	h.sink.mu.Lock()
	h.sink.records = append(h.sink.records, rec)
	h.sink.mu.Unlock()
	select {
	case h.sink.changed <- struct{}{}:
	default:
	}
	return nil
}

func (h *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sinkHandler{sink: h.sink, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }

// fakeAuthority answers from a script and records every question.
type fakeAuthority struct {
	mu      sync.Mutex
	asked   []gate.Job
	answer  func(gate.Job) (gate.Permit, error)
	limited int // fail the test after this many calls, if > 0
	t       *testing.T
}

func (a *fakeAuthority) MayRun(_ context.Context, j gate.Job) (gate.Permit, error) {
	a.mu.Lock()
	a.asked = append(a.asked, j)
	n := len(a.asked)
	a.mu.Unlock()
	if a.limited > 0 && n > a.limited {
		a.t.Errorf("authority asked %d times, at most %d expected: %+v", n, a.limited, j)
	}
	return a.answer(j)
}

func (a *fakeAuthority) jobs() []gate.Job {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.asked)
}

// writeCrontab writes a crontab the safety checks accept and returns its path.
func writeCrontab(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "leader-jobs.cron")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// startRun runs Run in the background; the returned stop cancels it and
// waits (bounded) for it to return, failing on an error.
func startRun(t *testing.T, opts Options) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(opts.Grace + stopSlack + wait):
				t.Fatalf("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}
