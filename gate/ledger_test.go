package gate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testLedger is the Turn the test CLI uses when GATE_TEST_LEDGER is set
// (free, taken, fail75, lose). It notes every call in ledger.log of the
// CLI's directory; in mode lose, the claim is lost once the command
// creates the file "lose" there.
type testLedger struct{ mode, dir string }

func (l *testLedger) note(s string) {
	f, err := os.OpenFile(filepath.Join(l.dir, "ledger.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fmt.Fprintln(f, s)
}

func (l *testLedger) Take(ctx context.Context, req TurnRequest) (Claim, error) {
	l.note("claim")
	switch l.mode {
	case "taken":
		return Claim{Result: ClaimTakenElsewhere, Why: "t@T is taken by i-b (running)"}, nil
	case "fail75":
		return Claim{}, exitErr{75, "ledger throttled"}
	}
	if !req.Slot.TryTake() {
		l.note("skip")
		return Claim{Busy: true, Why: "t@T is recorded skipped", Skipped: "overlap"}, nil
	}
	return Claim{Held: &testHeld{l}, Result: ClaimWon, Why: "claimed t@T (fence 1)"}, nil
}

func (l *testLedger) Look(ctx context.Context, req TurnRequest) (Claim, error) {
	l.note("look")
	switch l.mode {
	case "taken":
		return Claim{Result: ClaimTakenElsewhere, Why: "t@T is taken by i-b (running)"}, nil
	case "fail75":
		return Claim{}, exitErr{75, "ledger throttled"}
	}
	return Claim{Result: ClaimWon, Why: "would claim t@T"}, nil
}

type testHeld struct{ l *testLedger }

func (h *testHeld) RunID() string { return "t@T" }
func (h *testHeld) Fence() int64  { return 1 }

func (h *testHeld) Hold(ctx context.Context, grace time.Duration) (context.Context, func(End) error) {
	h.l.note("hold")
	held, lose := context.WithCancelCause(ctx)
	done := make(chan struct{})
	if h.l.mode == "lose" {
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if _, err := os.Stat(filepath.Join(h.l.dir, "lose")); err == nil {
					lose(errors.New("lease lost"))
					return
				}
			}
		}()
	}
	return held, func(end End) error {
		code := end.Code
		close(done)
		if cause := context.Cause(held); cause != nil {
			h.l.note("finish refused " + strconv.Itoa(code))
			return fmt.Errorf("the claim was lost: %w", cause)
		}
		lose(nil)
		if end.Stopped {
			h.l.note("let go " + strconv.Itoa(code))
			return nil
		}
		h.l.note("finish " + strconv.Itoa(code))
		return nil
	}
}

// withLedger is launcher with the test ledger in mode; its ledger.log is
// in cmd.Dir.
func withLedger(t *testing.T, mode string, opts Options) *exec.Cmd {
	t.Helper()
	cmd := launcher(t, "leader", opts)
	cmd.Env = append(cmd.Env, "GATE_TEST_LEDGER="+mode)
	return cmd
}

func ledgerLog(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "ledger.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunWithALedger(t *testing.T) {
	t.Parallel()
	touch := sh("touch ran")
	cases := []struct {
		name, mode string
		opts       Options
		code       int
		stderr     string // exactly, or as a prefix when it ends in "..."
		calls      string
		ran        bool
	}{
		{name: "a tick taken elsewhere runs nothing and says nothing", mode: "taken", opts: Options{FollowerExit: 4},
			code: 4, calls: "claim\n"},
		{name: "with -v, a tick taken elsewhere says whose it is", mode: "taken", opts: Options{Verbose: true},
			stderr: `leadergate: skipped "sh -c touch ran": t@T is taken by i-b (running)` + "\n", calls: "claim\n"},
		{name: "with -v, a claimed run says so once claimed", mode: "free", opts: Options{Verbose: true}, ran: true,
			stderr: `leadergate: running "sh -c touch ran": assumed leader (--assume); claimed t@T (fence 1)` + "\n", calls: "claim\nhold\nfinish 0\n"},
		{name: "a ledger that cannot be asked runs nothing: 75", mode: "fail75", code: 75,
			stderr: `leadergate: error: run: "sh -c touch ran" not run: ledger throttled` + "\n", calls: "claim\n"},
		{name: "a command that cannot be found is not claimed: 127", mode: "free", opts: Options{Argv: []string{"leadergate-no-such-command"}}, code: 127,
			stderr: `leadergate: error: run: "leadergate-no-such-command": command not found...`, calls: ""},
		{name: "a dry run on a free tick only looks, and says it would claim", mode: "free", opts: Options{DryRun: true},
			stderr: `leadergate: dry run: would run "sh -c touch ran" (...`, calls: "look\n"},
		{name: "a dry run on a taken tick only looks, and says it would skip", mode: "taken", opts: Options{DryRun: true, FollowerExit: 2}, code: 2,
			stderr: `leadergate: dry run: would skip "sh -c touch ran": t@T is taken by i-b (running)` + "\n", calls: "look\n"},
		{name: "a dry run on a ledger that cannot be asked fails as a run would", mode: "fail75", opts: Options{DryRun: true}, code: 75,
			stderr: `leadergate: error: run: "sh -c touch ran" not run: ledger throttled` + "\n", calls: "look\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.opts.Argv == nil {
				c.opts.Argv = touch
			}
			cmd := withLedger(t, c.mode, c.opts)
			r := run(t, cmd)
			prefix, isPrefix := strings.CutSuffix(c.stderr, "...")
			if r.code != c.code || r.stdout != "" || isPrefix && !strings.HasPrefix(r.stderr, prefix) || !isPrefix && r.stderr != c.stderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, nothing, %q", r.code, r.stdout, r.stderr, c.code, c.stderr)
			}
			if c.opts.DryRun && c.mode == "free" && !strings.HasSuffix(r.stderr, "): assumed leader (--assume); would claim t@T\n") {
				t.Errorf("dry run stderr %q does not end with the reason and what it would claim", r.stderr)
			}
			if got := ledgerLog(t, cmd.Dir); got != c.calls {
				t.Errorf("ledger calls %q, want %q", got, c.calls)
			}
			if _, err := os.Stat(filepath.Join(cmd.Dir, "ran")); (err == nil) != c.ran {
				t.Errorf("the command ran: %v, want %v", err == nil, c.ran)
			}
		})
	}
}

func TestRunWithALedgerSupervisesTheClaimedRun(t *testing.T) {
	t.Parallel()
	t.Run("the command runs as a child with the claim's environment, and its end is recorded", func(t *testing.T) {
		t.Parallel()
		cmd := withLedger(t, "free", Options{Argv: sh(`echo "$$ $LEADERGATE_RUN_ID"; exit 7`)})
		r := run(t, cmd)
		pid, held, _ := strings.Cut(strings.TrimSpace(r.stdout), " ")
		if r.code != 7 || r.stderr != "" || held != "t@T" || pid == strconv.Itoa(r.pid) {
			t.Errorf("exit %d, stdout %q, stderr %q; want 7, a child's pid and t@T, silence", r.code, r.stdout, r.stderr)
		}
		if got := ledgerLog(t, cmd.Dir); got != "claim\nhold\nfinish 7\n" {
			t.Errorf("ledger calls %q", got)
		}
	})
	t.Run("--max-runtime stops the group: exit 124, recorded 124", func(t *testing.T) {
		t.Parallel()
		cmd := withLedger(t, "free", Options{Argv: sh("echo $$; sleep 300 & wait"), MaxRuntime: time.Second, Grace: time.Second})
		r := run(t, cmd)
		if r.code != 124 || !strings.Contains(r.stderr, "ran longer than --max-runtime 1s and was stopped") {
			t.Errorf("exit %d, stderr %q; want 124 and why", r.code, r.stderr)
		}
		if got := ledgerLog(t, cmd.Dir); got != "claim\nhold\nfinish 124\n" {
			t.Errorf("ledger calls %q", got)
		}
		pgid, _ := strconv.Atoi(strings.TrimSpace(r.stdout))
		waitGroupGone(t, pgid)
	})
	t.Run("a lost claim stops the group: the command's code, an error, nothing recorded", func(t *testing.T) {
		t.Parallel()
		cmd := withLedger(t, "lose", Options{Argv: sh("echo $$; sleep 300 & touch lose; wait"), Grace: time.Second})
		r := run(t, cmd)
		want := `leadergate: error: run: "sh -c echo $$; sleep 300 & touch lose; wait": the claim was lost: lease lost` + "\n"
		if r.code != 143 || r.stderr != want {
			t.Errorf("exit %d, stderr %q; want 143 and %q", r.code, r.stderr, want)
		}
		if got := ledgerLog(t, cmd.Dir); got != "claim\nhold\nfinish refused 143\n" {
			t.Errorf("ledger calls %q", got)
		}
		pgid, _ := strconv.Atoi(strings.TrimSpace(r.stdout))
		waitGroupGone(t, pgid)
	})
}

func TestRunWithALedgerAndNoOverlapRecordsTheTickSkippedWhileThePreviousRunRuns(t *testing.T) {
	t.Parallel()
	opts := Options{Argv: sh("echo ready; read x || true"), NoOverlap: true, LockDir: t.TempDir(), LockName: "nightly"}
	first := withLedger(t, "free", opts)
	stdin, err := first.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := startPiped(t, first)
	expectLine(t, out, "ready")

	// The tick is recorded skipped fleet-wide, so that no other
	// instance takes it over beside the run still going here.
	second := withLedger(t, "free", opts)
	r := run(t, second)
	want := `leadergate: warning: skipped: previous run of "sh -c echo ready; read x || true" still running (--no-overlap); the tick is recorded skipped` + "\n"
	if r.code != 0 || r.stdout != "" || r.stderr != want {
		t.Errorf("second run: exit %d, stdout %q, stderr %q; want 0, nothing, %q", r.code, r.stdout, r.stderr, want)
	}
	if got := ledgerLog(t, second.Dir); got != "claim\nskip\n" {
		t.Errorf("the second run's ledger calls %q, want a claim that records the tick skipped", got)
	}
	stdin.Close()
	first.Wait()
	if got := ledgerLog(t, first.Dir); got != "claim\nhold\nfinish 0\n" {
		t.Errorf("first run's ledger calls %q", got)
	}
}

// TestRunWithALedgerStoppedBySIGTERMLetsTheClaimGo: a shutdown's SIGTERM,
// forwarded to the command, stops it: the claim is let go (so that the run
// reads lost and may be rerun), not recorded failed with 143.
func TestRunWithALedgerStoppedBySIGTERMLetsTheClaimGo(t *testing.T) {
	t.Parallel()
	cmd := withLedger(t, "free", Options{Argv: sh("echo ready; sleep 300 & wait")})
	out := startPiped(t, cmd)
	expectLine(t, out, "ready")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if got := ledgerLog(t, cmd.Dir); got != "claim\nhold\nlet go 143\n" {
		t.Errorf("ledger calls %q, want the claim let go with 143", got)
	}
}
