package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/clock/clocktest"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/proctest"
	"github.com/leadergate/leadergate/ledger"
)

// A trigger nobody starts (its job is in no scheduler's crontab) says so
// after a few minutes instead of waiting the hour in silence, then is
// dropped with 75.
func TestTriggerWaitSaysWhenNobodyStartsIt(t *testing.T) {
	at := time.Date(2026, 3, 14, 3, 4, 17, 0, time.UTC)
	clk := clocktest.New(at)
	var stdout, stderr proctest.Buffer
	d := &Deps{Stdout: &stdout, Stderr: &stderr, Clock: clk}
	k := ledger.Key{Group: "e-main", Job: "biling", Tick: at}
	done := make(chan error, 1)
	go func() { done <- waitForRun(d, &ledger.Memory{}, k, at.Add(ledger.RequestWindow), 2*time.Second) }()

	step := func(to time.Time) {
		for now := clk.Now(); now.Before(to); now = clk.Now() {
			clk.Advance(t, now.Add(2*time.Second))
		}
	}
	step(at.Add(slowStart))
	if s := stderr.String(); s != "" {
		t.Fatalf("warned before %s:\n%s", slowStart, s)
	}
	step(at.Add(slowStart + 10*time.Second))
	want := `leadergate: warning: no scheduler has started ` + k.TickString() + ` after 3m0s: is "biling" in the crontab of group e-main's schedulers`
	if s := stderr.String(); !strings.HasPrefix(s, want) || strings.Count(s, "\n") != 1 {
		t.Fatalf("stderr after %s:\n%s\nwant one line starting %q", slowStart+10*time.Second, s, want)
	}
	step(at.Add(ledger.RequestWindow + 2*time.Second))
	err := <-done
	var le *ledger.Error
	if !errors.As(err, &le) || exitcode.Of(err) != exitcode.TempFail || !strings.Contains(err.Error(), "no scheduler took the run") {
		t.Fatalf("waitForRun = %v (exit %d), want the drop with 75", err, exitcode.Of(err))
	}
	if n := strings.Count(stderr.String(), "warning:"); n != 1 {
		t.Errorf("%d warnings over the hour, want 1:\n%s", n, stderr.String())
	}
}
