package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
		return pid > 0 && processAlive(pid)
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
	if !waitFor(10*time.Second, func() bool { return !processAlive(pid) }) {
		t.Errorf("the command (pid %d) outlived leadergate's SIGTERM", pid)
	}
	follower.stopWithin(t, 10*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "follower")); err == nil {
		t.Error("a follower started the command")
	}
}
