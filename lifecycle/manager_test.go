package lifecycle

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/elect"
)

// fakeIMDS serves the lifecycle paths from a map; absent paths are 404.
type fakeIMDS struct {
	mu    sync.Mutex
	paths map[string]string
	fail  bool        // every read errors
	polls chan string // every read, for the test to wait on
}

func (f *fakeIMDS) set(path, v string) { f.mu.Lock(); defer f.mu.Unlock(); f.paths[path] = v }

func (f *fakeIMDS) Metadata(_ context.Context, path string) (string, bool, error) {
	f.mu.Lock()
	v, ok := f.paths[path]
	fail := f.fail
	f.mu.Unlock()
	select {
	case f.polls <- path:
	default:
	}
	if fail {
		return "", false, fmt.Errorf("read IMDS %s: connection refused", path)
	}
	return v, ok, nil
}

// fakeDrainer records the calls and keeps the drain like elect.Elector does.
type fakeDrainer struct {
	mu     sync.Mutex
	drain  *elect.Drain
	calls  []string
	called chan string
}

func (f *fakeDrainer) Drain(_ context.Context, d elect.Drain) error {
	f.mu.Lock()
	f.drain = &d
	f.calls = append(f.calls, "drain:"+d.Cause)
	f.mu.Unlock()
	f.called <- "drain:" + d.Cause
	return nil
}

func (f *fakeDrainer) Undrain(context.Context) error {
	f.mu.Lock()
	f.drain = nil
	f.calls = append(f.calls, "undrain")
	f.mu.Unlock()
	f.called <- "undrain"
	return nil
}

func (f *fakeDrainer) Draining(context.Context) (elect.Drain, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drain == nil {
		return elect.Drain{}, false, nil
	}
	return *f.drain, true, nil
}

type fakeProtector struct {
	err    error
	called chan bool
}

func (f *fakeProtector) SetProtected(_ context.Context, on bool) error {
	f.called <- on
	return f.err
}

// tickClock fires the Manager's polls only when the test says so.
type tickClock struct{ ticks chan time.Time }

func (c tickClock) Now() time.Time                       { return time.Now() }
func (c tickClock) After(time.Duration) <-chan time.Time { return c.ticks }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type harness struct {
	m       *Manager
	imds    *fakeIMDS
	drainer *fakeDrainer
	prot    *fakeProtector
	clock   tickClock
	drains  chan time.Time
	log     *syncBuf
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		imds:    &fakeIMDS{paths: map[string]string{}, polls: make(chan string, 100)},
		drainer: &fakeDrainer{called: make(chan string, 10)},
		prot:    &fakeProtector{called: make(chan bool, 10)},
		clock:   tickClock{ticks: make(chan time.Time)},
		drains:  make(chan time.Time, 10),
		log:     &syncBuf{},
	}
	h.m = &Manager{
		Watcher:       &Watcher{Metadata: h.imds},
		Drainer:       h.drainer,
		Protector:     h.prot,
		ProtectRecord: filepath.Join(t.TempDir(), "protected"),
		OnDrain:       func(_ string, deadline time.Time) { h.drains <- deadline },
		Clock:         h.clock,
		Logger:        slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return h
}

func (h *harness) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.m.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// poll lets the Manager make one poll and waits until it read the paths.
func (h *harness) poll(t *testing.T) {
	t.Helper()
	h.clock.ticks <- time.Now()
	for range 2 { // spot and target state
		select {
		case <-h.imds.polls:
		case <-time.After(5 * time.Second):
			t.Fatal("the Manager did not poll")
		}
	}
}

func expect[T comparable](t *testing.T, ch <-chan T, want T, what string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: nothing within 5s, want %v", what, want)
	}
}

func TestManagerDrainsOnceOnASpotNoticeAndClearsProtection(t *testing.T) {
	h := newHarness(t)
	h.m.Start(context.Background())
	stop := h.run(t)
	defer stop()

	h.poll(t)
	h.m.LeaderJobs(1)
	expect(t, h.prot.called, true, "protection while a leader-only job runs")
	h.imds.set(PathSpot, `{"action":"terminate","time":"2026-12-01T23:00:00Z"}`)
	h.poll(t)
	expect(t, h.drainer.called, "drain:"+KindSpot, "drain on the spot notice")
	expect(t, h.drains, time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC), "the scheduler told of the deadline")
	expect(t, h.prot.called, false, "protection cleared at the drain")
	// Later polls and job changes neither drain again nor protect again.
	h.poll(t)
	h.m.LeaderJobs(2)
	h.poll(t) // the Manager's loop has taken the wish by now
	stop()
	select {
	case c := <-h.drainer.called:
		t.Errorf("unexpected %s after the drain", c)
	case on := <-h.prot.called:
		t.Errorf("protection set to %t while draining", on)
	default:
	}
}

func TestManagerDrainsAtShutdown(t *testing.T) {
	h := newHarness(t)
	h.m.Start(context.Background())
	stop := h.run(t)
	h.poll(t)
	stop()
	expect(t, h.drainer.called, "drain:"+elect.CauseShutdown, "drain at shutdown")
}

func TestManagerStartRemovesOnlyItsOwnLeftoverDrain(t *testing.T) {
	for _, tc := range []struct {
		cause, notice string
		undrain       bool
	}{
		{elect.CauseShutdown, "", true},
		{KindAutoScaling, "", true},
		{KindSpot, `{"action":"terminate","time":"2026-12-01T23:00:00Z"}`, false}, // the notice still applies
		{elect.CauseOperator, "", false},
	} {
		t.Run(fmt.Sprintf("%s drain, notice %t", tc.cause, tc.notice != ""), func(t *testing.T) {
			h := newHarness(t)
			h.drainer.drain = &elect.Drain{At: time.Now(), Reason: "before", Cause: tc.cause}
			if tc.notice != "" {
				h.imds.set(PathSpot, tc.notice)
			}
			h.m.Start(context.Background())
			_, still, _ := h.drainer.Draining(context.Background())
			if still == tc.undrain {
				t.Errorf("after Start the drain is there: %t, want %t (log:\n%s)", still, !tc.undrain, h.log.String())
			}
		})
	}
}

func TestManagerClearsALeftoverProtection(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(h.m.ProtectRecord, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.m.Start(context.Background())
	expect(t, h.prot.called, false, "a leftover protection cleared at start")
	if _, err := os.Stat(h.m.ProtectRecord); !os.IsNotExist(err) {
		t.Errorf("the protection record is still there: %v", err)
	}
	// Without a record, nothing is cleared: a protection set by someone else stays.
	h2 := newHarness(t)
	h2.m.Start(context.Background())
	select {
	case on := <-h2.prot.called:
		t.Errorf("SetProtected(%t) at a start with no record", on)
	default:
	}
}

func TestManagerWarnsNamingThePolicyWhenProtectionIsDenied(t *testing.T) {
	h := newHarness(t)
	h.prot.err = fmt.Errorf("SetInstanceProtection: %w (AccessDenied)", ErrDenied)
	h.m.Start(context.Background())
	stop := h.run(t)
	h.m.LeaderJobs(1)
	expect(t, h.prot.called, true, "protection tried")
	h.poll(t)
	stop()
	if !strings.Contains(h.log.String(), "leadergate iam-policy --protect") || !strings.Contains(h.log.String(), "level=WARN") {
		t.Errorf("no warning naming the policy:\n%s", h.log.String())
	}
	if _, err := os.Stat(h.m.ProtectRecord); !os.IsNotExist(err) {
		t.Error("a refused protection left its record behind")
	}
}

// An IMDS that errors is logged at debug level and polled again; it never
// drains, and a notice served once it answers again does.
func TestManagerRetriesAnUnreadableIMDS(t *testing.T) {
	h := newHarness(t)
	h.imds.fail = true
	h.m.Start(context.Background())
	stop := h.run(t)
	defer stop()
	h.poll(t)
	h.poll(t)
	select {
	case c := <-h.drainer.called:
		t.Fatalf("%s on an unreadable IMDS", c)
	default:
	}
	if !strings.Contains(h.log.String(), "level=DEBUG") || !strings.Contains(h.log.String(), "IMDS lifecycle path unreadable") {
		t.Errorf("no debug record of the failed poll:\n%s", h.log.String())
	}
	if strings.Contains(h.log.String(), "level=WARN") || strings.Contains(h.log.String(), "level=ERROR") {
		t.Errorf("an IMDS error is not worth a warning:\n%s", h.log.String())
	}
	h.imds.mu.Lock()
	h.imds.fail = false
	h.imds.paths[PathTargetState] = "Terminated"
	h.imds.mu.Unlock()
	h.poll(t)
	expect(t, h.drainer.called, "drain:"+KindAutoScaling, "drain once IMDS answers")
}
