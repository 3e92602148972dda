package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/proctest"
)

// TestServiceWithoutTheLedgerFollowsTheElectionAndSaysSo: with --assume
// leader and no ledger the command runs, with a warning that two instances
// may overlap around a handover; SIGTERM stops it and leadergate exits 0; a
// follower never starts it.
func TestServiceWithoutTheLedgerFollowsTheElectionAndSaysSo(t *testing.T) {
	dir := t.TempDir()
	n := &node{id: "laptop", env: append(os.Environ(), "LEADERGATE_STATE_DIR="+filepath.Join(dir, "state"), "LEADERGATE_MARKER=", "LEADERGATE_LEDGER=")}
	follower := startScheduler(t, n, "service", "--assume", "follower", "--poll", "50ms", "--",
		"sh", "-c", "echo ran > "+filepath.Join(dir, "follower"))
	pidFile := filepath.Join(dir, "pid")
	leader := startScheduler(t, n, "service", "--assume", "leader", "--poll", "50ms", "--grace", "1s", "--",
		"sh", "-c", "echo $$ > "+pidFile+"; echo hello; exec sleep 1000")
	var pid int
	if !waitFor(20*time.Second, func() bool {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0 && proctest.Alive(pid)
	}) {
		t.Fatalf("the leader did not start the command:\n%s", leader.stderr.String())
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(leader.stderr.String(), "line=hello") }) {
		t.Errorf("the command's output was not logged line by line:\n%s", leader.stderr.String())
	}
	if !strings.Contains(leader.stderr.String(), "two instances may run it at once") {
		t.Errorf("no warning that two may overlap without the ledger:\n%s", leader.stderr.String())
	}
	leader.stopWithin(t, 10*time.Second)
	if !waitFor(10*time.Second, func() bool { return !proctest.Alive(pid) }) {
		t.Errorf("the command (pid %d) outlived leadergate's SIGTERM", pid)
	}
	follower.stopWithin(t, 10*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "follower")); err == nil {
		t.Error("a follower started the command")
	}
}

// TestServicePingsAndRunsTheFailureHook: each start pings URL/start, each
// exit of the command on its own pings URL/<exit code> with its output and
// runs the failure hook (the supervisor restarts it); a stop by SIGTERM
// reports nothing.
func TestServicePingsAndRunsTheFailureHook(t *testing.T) {
	dir := t.TempDir()
	ping := newPingServer(t, false)
	n := &node{id: "laptop", env: append(os.Environ(), "LEADERGATE_STATE_DIR="+filepath.Join(dir, "state"), "LEADERGATE_MARKER=", "LEADERGATE_LEDGER=")}
	hooks := filepath.Join(dir, "hooks")
	svc := startScheduler(t, n, "service", "--name", "beat", "--assume", "leader", "--poll", "50ms", "--log-format", "json",
		"--ping-url", ping.URL+"/beat", "--on-failure", `echo "$LEADERGATE_JOB $LEADERGATE_EXIT_CODE" >> `+hooks,
		"--", "sh", "-c", "echo boom; exit 3")
	hookLines := func() []string {
		b, _ := os.ReadFile(hooks)
		return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), "beat 3", "beat-3"))
	}
	// Two exits: the second after the first restart (1 s of backoff).
	if !waitFor(30*time.Second, func() bool { return len(hookLines()) >= 2 }) {
		t.Fatalf("the failure hook did not run twice:\n%s", svc.stderr.String())
	}
	svc.stopWithin(t, 10*time.Second)
	for _, l := range hookLines() {
		if l != "beat-3" {
			t.Errorf("failure hook saw %q, want job beat, exit 3", l)
		}
	}
	var starts, fails int
	for _, l := range ping.lines() {
		switch {
		case strings.HasPrefix(l, "GET /beat/start"):
			starts++
		case l == "POST /beat/3 boom\n":
			fails++
		default:
			t.Errorf("unexpected ping %q", l)
		}
	}
	if fails < 2 || starts < fails || starts > fails+1 {
		t.Errorf("%d start pings and %d failure pings, want one of each per run:\n%q", starts, fails, ping.lines())
	}
	if !svc.logged("service command exited; restarting") {
		t.Errorf("the exit was not logged:\n%s", svc.stderr.String())
	}
}
