package gate

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/proctest"
)

// superviseTestMain makes this test binary the guard (`leadergate __guard
// CMD`), or a supervisor of the command in its arguments
// (`supervise-helper CMD`) for a test that SIGKILLs it.
func superviseTestMain() (int, bool) {
	switch {
	case len(os.Args) > 1 && os.Args[1] == GuardArg:
		return GuardMain(os.Args[2:]), true
	case len(os.Args) > 1 && os.Args[1] == "supervise-helper":
		s := &Supervisor{Argv: os.Args[2:], Grace: time.Second}
		if err := s.Run(context.Background()); err != nil {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// waitGone waits for every pid to end, failing after a bound that only a
// broken supervisor reaches.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, pid := range pids {
		for proctest.Alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// readPids waits for file to hold n pids, one a line.
func readPids(t *testing.T, file string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		var pids []int
		for _, l := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(l); err == nil {
				pids = append(pids, p)
			}
		}
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %d pids", file, b, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testExe(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestSupervisorRestartsACrashingCommandAndReportsTheLoop(t *testing.T) {
	dir := t.TempDir()
	var logs proctest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var codes []int
	s := &Supervisor{
		Argv:       []string{"sh", "-c", "echo x >> " + filepath.Join(dir, "runs") + "; exit 3"},
		Guard:      testExe(t),
		BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond, Stable: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Exited: func(code int, d time.Duration, stopped bool) {
			mu.Lock()
			defer mu.Unlock()
			if codes = append(codes, code); len(codes) == CrashLoop+1 {
				cancel()
			}
		},
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "runs"))
	if n := strings.Count(string(b), "x"); n != CrashLoop+1 {
		t.Errorf("%d runs, want %d", n, CrashLoop+1)
	}
	for _, c := range codes {
		if c != 3 {
			t.Errorf("exit codes %v, want 3 each time", codes)
			break
		}
	}
	if n := strings.Count(logs.String(), "crash loop"); n != 1 {
		t.Errorf("crash loop reported %d times, want once:\n%s", n, logs.String())
	}
}

func TestSupervisorStopsTheWholeGroupAndPassesSignalsThrough(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	ctx, cancel := context.WithCancel(context.Background())
	var code int
	s := &Supervisor{
		// A shell that starts a child that ignores SIGTERM: the group must
		// still go, by SIGKILL after the grace.
		Argv:  []string{"sh", "-c", "echo $$ > " + pids + "; sh -c 'trap \"\" TERM; while :; do sleep 0.05; done' & echo $! >> " + pids + "; wait"},
		Guard: testExe(t), Grace: 200 * time.Millisecond,
		Exited: func(c int, d time.Duration, stopped bool) { code = c },
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	running := readPids(t, pids, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitGone(t, running...)
	if code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %d, want %d: the shell died of SIGTERM, and the guard says so", code, 128+int(syscall.SIGTERM))
	}
}

func TestTheCommandDiesWithItsSupervisorEvenBySIGKILL(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	helper := exec.Command(testExe(t), "supervise-helper", "sh", "-c", "echo $$ > "+pids+"; sleep 1000 & echo $! >> "+pids+"; wait")
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	running := readPids(t, pids, 2)
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	waitGone(t, running...)
}

func TestSupervisorRefusesACommandItCannotStart(t *testing.T) {
	s := &Supervisor{Argv: []string{"no-such-command-here"}, Guard: testExe(t)}
	err := s.Run(context.Background())
	if exitcode.Of(err) != exitcode.NotFound {
		t.Errorf("err = %v (exit %d), want 127", err, exitcode.Of(err))
	}
}
