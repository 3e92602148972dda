package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/proctest"
)

// onceProc is one `leadergate once` started in the background, as
// startScheduler starts any leadergate process: its own process group,
// stderr kept, SIGKILLed at the test's end.
type onceProc struct{ *scheduler }

func startOnce(t *testing.T, n *node, args ...string) *onceProc {
	t.Helper()
	return &onceProc{startScheduler(t, n, append([]string{"once"}, args...)...)}
}

// exit waits for the process and returns its exit code.
func (p *onceProc) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("once on %s still runs after %s:\n%s", p.id, within, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// onceRuns reads the lines the task wrote: "ID FENCE PID".
func onceRuns(path string) [][]string {
	b, _ := os.ReadFile(path)
	var out [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			out = append(out, f)
		}
	}
	return out
}

// TestOnceOnThreeInstancesAgainstMoto: started on three instances at the
// same instant, a deploy task runs once and the other two wait for it and
// exit with its code; a runner SIGKILLed mid-run (its command dies with
// it) is rerun exactly once, by one waiter, after its lease; a task that
// succeeded runs nothing again.
func TestOnceOnThreeInstancesAgainstMoto(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	nodes, _, ddb, _, _ := ledgerNodes(t, 3)
	dir := t.TempDir()
	flags := []string{"--max-age", "0s", "--lease", "3s", "--takeover-after", "1s", "--grace", "500ms"}
	task := func(log, body string) []string {
		return append(append([]string{}, flags...), "--", "sh", "-c", `echo "$ID $LEADERGATE_FENCE $$" >> `+log+"; "+body)
	}

	// 1. All three at once: one run, exit 3 everywhere.
	log1 := filepath.Join(dir, "v1.log")
	ddb.ResetCalls()
	var procs []*onceProc
	for _, n := range nodes {
		procs = append(procs, startOnce(t, n, append([]string{"--key", "migrate@v1"}, task(log1, "sleep 2; exit 3")...)...))
	}
	for _, p := range procs {
		if code := p.exit(t, 30*time.Second); code != 3 {
			t.Errorf("%s exited %d, want the run's 3:\n%s", p.id, code, p.stderr.String())
		}
	}
	runs := onceRuns(log1)
	if len(runs) != 1 {
		t.Fatalf("migrate@v1 ran %d times (%q), want once", len(runs), runs)
	}
	waiters := 0
	for _, p := range procs {
		if strings.Contains(p.stderr.String(), "waiting for "+runs[0][0]) {
			waiters++
		}
	}
	if waiters != 2 {
		t.Errorf("%d instances said they wait for %s, want 2", waiters, runs[0][0])
	}
	t.Logf("three at once: %s ran it; DynamoDB calls PutItem %d, UpdateItem %d, GetItem %d",
		runs[0][0], ddb.Calls("PutItem"), ddb.Calls("UpdateItem"), ddb.Calls("GetItem"))

	// 2. The runner SIGKILLed mid-run: one rerun, after its lease.
	log2 := filepath.Join(dir, "v2.log")
	procs = procs[:0]
	byID := map[string]*onceProc{}
	for _, n := range nodes {
		p := startOnce(t, n, append([]string{"--key", "migrate@v2"}, task(log2, `[ "$LEADERGATE_FENCE" = 1 ] && exec sleep 60; exit 0`)...)...)
		procs = append(procs, p)
		byID[n.id] = p
	}
	if !waitFor(30*time.Second, func() bool { return len(onceRuns(log2)) == 1 }) {
		t.Fatal("migrate@v2 did not start")
	}
	first := onceRuns(log2)[0]
	runner := byID[first[0]]
	pid, _ := strconv.Atoi(first[2])
	killed := time.Now()
	runner.cmd.Process.Signal(syscall.SIGKILL) // leadergate only: its command must die with it
	<-runner.done
	if !waitFor(10*time.Second, func() bool { return !proctest.Alive(pid) }) {
		t.Fatalf("the task (pid %d) outlived its SIGKILLed leadergate", pid)
	}
	diedAfter := time.Since(killed)
	for _, p := range procs {
		if p == runner {
			continue
		}
		if code := p.exit(t, 30*time.Second); code != 0 {
			t.Errorf("%s exited %d after the rerun, want 0:\n%s", p.id, code, p.stderr.String())
		}
	}
	runs = onceRuns(log2)
	if len(runs) != 2 || runs[1][0] == runner.id || runs[1][1] != "2" {
		t.Fatalf("runs of migrate@v2: %q; want the killed one and one rerun elsewhere with fence 2", runs)
	}
	rerunAfter := time.Duration(0)
	if fi, err := os.Stat(log2); err == nil {
		rerunAfter = fi.ModTime().Sub(killed)
	}
	t.Logf("runner %s SIGKILLed: its task died %.0f ms later; %s reran it %.1f s after the kill (lease 3 s)",
		runner.id, diedAfter.Seconds()*1000, runs[1][0], rerunAfter.Seconds())

	// 3. The same key again, on every instance: nothing runs.
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, stderr := n.leadergate(append([]string{"once", "--key", "migrate@v2"}, task(log2, "exit 9")...)...); code != 0 {
				t.Errorf("once of a succeeded key on %s: exit %d: %s", n.id, code, stderr)
			}
		}()
	}
	wg.Wait()
	if runs := onceRuns(log2); len(runs) != 2 {
		t.Errorf("a succeeded key ran again: %q", runs)
	}

	// history shows the outcomes.
	code, out := nodes[0].leadergateOut("history")
	if code != 0 || !strings.Contains(out, "once#migrate@v1") || !strings.Contains(out, "once#migrate@v2") {
		t.Errorf("history: exit %d:\n%s", code, out)
	}
}

// TestOnceStoppedBySIGTERMIsRunAgain: a deploy task whose runner is stopped
// by SIGTERM (a cancelled deploy, an instance shutting down) did not fail
// by itself: its claim is let go, and the next once with its key (the
// redeploy) runs it again, with fence 2. Before, it was recorded failed,
// and every later once answered with the stopped run's exit code.
func TestOnceStoppedBySIGTERMIsRunAgain(t *testing.T) {
	t.Parallel()
	nodes, _, _, _, _ := ledgerNodes(t, 1)
	n := nodes[0]
	log := filepath.Join(t.TempDir(), "runs.log")
	args := []string{"once", "--key", "migrate@v7", "--max-age", "0s", "--lease", "3s", "--takeover-after", "1s", "--grace", "500ms",
		"--", "sh", "-c", `echo "$ID $LEADERGATE_FENCE $$" >> ` + log + `; [ "$LEADERGATE_FENCE" = 1 ] && exec sleep 60; exit 0`}
	p := &onceProc{startScheduler(t, n, args...)}
	if !waitFor(30*time.Second, func() bool { return len(onceRuns(log)) == 1 }) {
		t.Fatalf("the task did not start:\n%s", p.stderr.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exit(t, 10*time.Second); code == 0 {
		t.Errorf("once stopped by SIGTERM mid-run exited 0")
	}
	if !strings.Contains(p.stderr.String(), "its claim is let go") {
		t.Errorf("once stopped by SIGTERM did not say what becomes of the task:\n%s", p.stderr.String())
	}
	code, stderr := n.leadergate(args...)
	runs := onceRuns(log)
	if code != 0 || len(runs) != 2 || runs[1][1] != "2" {
		t.Fatalf("the redeploy's once: exit %d, runs %q; want the task run again (fence 2), exit 0:\n%s", code, runs, stderr)
	}
	_, out := n.leadergateOut("history", "--json", "--since", "1h")
	if !strings.Contains(out, `"state":"succeeded"`) || !strings.Contains(out, `"fence":2`) {
		t.Errorf("history after the rerun:\n%s", out)
	}
}
