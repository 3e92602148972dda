package ledger

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func claimReal(t *testing.T, m *Memory, lease time.Duration) *Run {
	t.Helper()
	l := &Ledger{Store: m, Owner: "i-a", Now: time.Now, Lease: lease}
	got, err := l.Claim(context.Background(), Key{Group: "g", Job: "j", Tick: time.Now().Truncate(time.Minute)}, ClaimOptions{})
	if err != nil || got.Outcome != Won {
		t.Fatal(got, err)
	}
	return got.Run
}

func TestSuperviseRecordsTheExitAndGivesTheJobItsEnvironment(t *testing.T) {
	m := &Memory{}
	run := claimReal(t, m, time.Minute)
	out := filepath.Join(t.TempDir(), "env")
	cmd := exec.Command("sh", "-c", `echo "$LEADERGATE_JOB $LEADERGATE_FENCE $LEADERGATE_RUN_ID $LEADERGATE_SCHEDULED_AT" > "$1"; exit 3`, "sh", out)
	code, err := Supervise(context.Background(), run, cmd, SuperviseOptions{Grace: time.Second})
	if code != 3 || err != nil {
		t.Fatalf("Supervise = %d, %v; want 3, nil", code, err)
	}
	r, _, _ := m.Get(context.Background(), run.Record().Key)
	if r.State != Failed || r.ExitCode != 3 || r.Finished.IsZero() {
		t.Errorf("record = %+v", r)
	}
	b, _ := os.ReadFile(out)
	want := "j 1 g#j@" + r.TickString() + "/1 " + r.Tick.Format(time.RFC3339) + "\n"
	if string(b) != want {
		t.Errorf("job saw %q, want %q", b, want)
	}
}

func TestSuperviseStopsTheJobWhenTheTickIsTakenOver(t *testing.T) {
	m := &Memory{}
	run := claimReal(t, m, 300*time.Millisecond)
	started := make(chan struct{})
	cmd := exec.Command("sleep", "30")
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, err := Supervise(context.Background(), run, cmd, SuperviseOptions{Grace: time.Second, OnStart: func(int) { close(started) }})
		res <- result{code, err}
	}()
	<-started
	// Another instance takes the tick over (as after a freeze).
	prev := run.Record()
	next := prev
	next.Owner, next.Fence = "i-b", prev.Fence+1
	if err := m.Swap(context.Background(), prev, next); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if !errors.Is(r.err, ErrLeaseLost) || r.code != 128+15 {
			t.Errorf("Supervise = %d, %v; want 143 and a lost lease", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job was not stopped after its renewal was refused")
	}
	r, _, _ := m.Get(context.Background(), prev.Key)
	if r.Owner != "i-b" || r.State != Running {
		t.Errorf("the old owner wrote over the new one: %+v", r)
	}
}

func TestSuperviseStopsTheJobWhenTheLedgerIsUnreachableUntilTheLeaseEnds(t *testing.T) {
	m := &Memory{}
	run := claimReal(t, m, 300*time.Millisecond)
	m.Err = func(op string) error { return errors.New("connection refused") }
	start := time.Now()
	code, err := Supervise(context.Background(), run, exec.Command("sleep", "30"), SuperviseOptions{Grace: time.Second})
	if !errors.Is(err, ErrLeaseLost) || code != 143 {
		t.Fatalf("Supervise = %d, %v; want 143 and a lost lease", code, err)
	}
	if !strings.Contains(err.Error(), "ran out") {
		t.Errorf("error = %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("stopped after %s, before the lease ended", d)
	}
}
