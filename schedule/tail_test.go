package schedule

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// tailLedger is fakeLedger whose claims keep tails (a TailKeeper), by job.
type tailLedger struct {
	fakeLedger
	mu    sync.Mutex
	tails map[string][]string
}

type tailHeld struct {
	fakeHeld
	l   *tailLedger
	job string
}

func (h tailHeld) SetTail(out []byte) {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	h.l.tails[h.job] = append(h.l.tails[h.job], string(out))
}

func (l *tailLedger) Take(ctx context.Context, req gate.TurnRequest) (gate.Claim, error) {
	c, err := l.fakeLedger.Take(ctx, req)
	if h, ok := c.Held.(fakeHeld); ok {
		c.Held = tailHeld{fakeHeld: h, l: l, job: req.Job.Name}
	}
	return c, err
}

// TestAFailedRunGivesTheLedgerItsOutput: with a ledger that keeps tails,
// a failed run hands it the end of its output before the finish; a run
// that succeeded hands nothing.
func TestAFailedRunGivesTheLedgerItsOutput(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, "# name: bad\n* * * * * * echo the bank said no >&2; exit 3\n# name: good\n* * * * * * echo all fine\n")
	logs := newLogSink()
	l := &tailLedger{tails: map[string][]string{}}
	l.answer = func(time.Time) (bool, error) { return true, nil }
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Ledger: l})
	logs.wait(t, "job failed", "job", "bad")
	logs.wait(t, "job finished", "job", "good")
	stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tails["bad"]) == 0 || !strings.Contains(l.tails["bad"][0], "the bank said no") {
		t.Errorf("the failed run gave the ledger %q, want its output", l.tails["bad"])
	}
	if len(l.tails["good"]) != 0 {
		t.Errorf("the successful run gave the ledger %q, want nothing", l.tails["good"])
	}
}
