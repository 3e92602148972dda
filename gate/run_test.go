package gate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/exitcode"
	"golang.org/x/sys/unix"
)

// The tests of Run go through a real process, since on the leader Run
// replaces the process: this test binary doubles as a tiny leadergate CLI
// when GATE_TEST_CLI is set, and as a program that lists its open file
// descriptors when its only argument is listFDsArg.
const listFDsArg = "gate-test-list-fds"

func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == listFDsArg {
		listFDs()
		os.Exit(0)
	}
	if os.Getenv("GATE_TEST_CLI") == "1" {
		os.Exit(testCLI())
	}
	if code, ok := superviseTestMain(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// listFDs prints "fd target" for every open descriptor, before anything in
// this process opens one.
func listFDs() {
	var out []byte
	for fd := 0; fd < 1024; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			continue
		}
		target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		out = fmt.Appendf(out, "%d %s\n", fd, target)
	}
	os.Stdout.Write(out)
}

// testAuth is the Authority the test CLI asks, chosen by GATE_TEST_AUTH.
type testAuth string

type exitErr struct {
	code int
	msg  string
}

func (e exitErr) Error() string { return e.msg }
func (e exitErr) ExitCode() int { return e.code }

func (a testAuth) MayRun(ctx context.Context, job Job) (Permit, error) {
	switch a {
	case "leader":
		return Assume(true).MayRun(ctx, job)
	case "follower":
		return Assume(false).MayRun(ctx, job)
	case "stale-leader":
		return Permit{Run: true, Reason: "stale", Stale: true, Note: "using the verdict of 2025-01-01T00:00:00Z (--stale-ok): imds unreachable"}, nil
	case "fail75":
		return Permit{}, exitErr{75, "get instance identity: imds unreachable; check the metadata endpoint"}
	case "fail78":
		return Permit{}, exitErr{78, "instance i-1 has no tag elasticbeanstalk:environment-id; set --group-tag"}
	}
	panic("unknown GATE_TEST_AUTH " + string(a))
}

// testCLI is what main.go does with Run, plus a few descriptors a real
// leadergate would have open (a file, a socket) that must not leak.
func testCLI() int {
	var opts Options
	if err := json.Unmarshal([]byte(os.Getenv("GATE_TEST_OPTS")), &opts); err != nil {
		fmt.Fprintf(os.Stderr, "leadergate: error: test options: %v\n", err)
		return 2
	}
	canary, err := os.Create(filepath.Join(os.Getenv("GATE_TEST_DIR"), "canary"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "leadergate: error: canary: %v\n", err)
		return 2
	}
	defer canary.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "leadergate: error: listen: %v\n", err)
		return 2
	}
	defer ln.Close()

	if mode := os.Getenv("GATE_TEST_LEDGER"); mode != "" {
		opts.Turn = &testLedger{mode: mode, dir: os.Getenv("GATE_TEST_DIR")}
	}
	code, err := Run(context.Background(), testAuth(os.Getenv("GATE_TEST_AUTH")), Job{Name: "test"}, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "leadergate: error: %v\n", err)
		if code != exitcode.Of(err) {
			fmt.Fprintf(os.Stderr, "test: code %d != exitcode.Of(err) %d\n", code, exitcode.Of(err))
			return 2
		}
	}
	return code
}

// launcher builds (does not start) the test CLI as a leadergate run.
func launcher(t *testing.T, auth string, opts Options) *exec.Cmd {
	t.Helper()
	b, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GATE_TEST_CLI=1", "GATE_TEST_AUTH="+auth, "GATE_TEST_OPTS="+string(b), "GATE_TEST_DIR="+dir)
	return cmd
}

type result struct {
	code           int
	stdout, stderr string
	pid            int
	state          *os.ProcessState
}

// run runs the test CLI to completion, bounded.
func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("wait: %v", err)
	}
	return result{code: StatusCode(cmd.ProcessState), stdout: stdout.String(), stderr: stderr.String(), pid: cmd.Process.Pid, state: cmd.ProcessState}
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func TestRunLeaderExecsInPlace(t *testing.T) {
	t.Parallel()
	t.Run("the exit code passes through", func(t *testing.T) {
		r := run(t, launcher(t, "leader", Options{Argv: sh("exit 7")}))
		if r.code != 7 || r.stdout != "" || r.stderr != "" {
			t.Errorf("got exit %d, stdout %q, stderr %q; want 7 and silence", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("stdin, stdout and stderr bytes pass through", func(t *testing.T) {
		cmd := launcher(t, "leader", Options{Argv: sh(`cat; printf 'err\001\377 bytes' >&2`)})
		in := "line one\n\x00\xfe binary\nno newline"
		cmd.Stdin = strings.NewReader(in)
		r := run(t, cmd)
		if r.code != 0 || r.stdout != in || r.stderr != "err\x01\xff bytes" {
			t.Errorf("got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("the command has leadergate's pid", func(t *testing.T) {
		r := run(t, launcher(t, "leader", Options{Argv: sh("echo $$")}))
		if r.stdout != strconv.Itoa(r.pid)+"\n" {
			t.Errorf("command says pid %q, leadergate was %d", r.stdout, r.pid)
		}
	})
	t.Run("death by signal is the command's own", func(t *testing.T) {
		r := run(t, launcher(t, "leader", Options{Argv: sh("kill -TERM $$")}))
		ws := r.state.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("status %v, want killed by SIGTERM", r.state)
		}
	})
	t.Run("with -v, one line says why before the command runs", func(t *testing.T) {
		r := run(t, launcher(t, "leader", Options{Argv: sh("echo ran"), Verbose: true}))
		want := "leadergate: running \"sh -c echo ran\": assumed leader (--assume)\n"
		if r.code != 0 || r.stdout != "ran\n" || r.stderr != want {
			t.Errorf("got exit %d, stdout %q, stderr %q; want stderr %q", r.code, r.stdout, r.stderr, want)
		}
	})
}

// startPiped starts cmd with its stdout on a pipe and returns a reader of it.
func startPiped(t *testing.T, cmd *exec.Cmd) *bufio.Reader {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	t.Cleanup(func() { timer.Stop() })
	return bufio.NewReader(out)
}

func expectLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil || line != want+"\n" {
		t.Fatalf("read %q (%v), want %q", line, err, want)
	}
}

func TestRunLeaderSignalReachesCommand(t *testing.T) {
	t.Parallel()
	cmd := launcher(t, "leader", Options{Argv: sh(`trap 'kill $!; echo trapped; exit 3' TERM; sleep 30 & echo ready; wait`)})
	out := startPiped(t, cmd)
	expectLine(t, out, "ready")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectLine(t, out, "trapped")
	cmd.Wait()
	if code := StatusCode(cmd.ProcessState); code != 3 {
		t.Errorf("exit %d, want 3 from the trap", code)
	}
}

func TestRunFollowerIsSilent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		opts   Options
		code   int
		stderr string
	}{
		{"a follower exits 0 and prints nothing", Options{}, 0, ""},
		{"--follower-exit sets the code, still silent", Options{FollowerExit: 3}, 3, ""},
		{"-v says why in one line", Options{Verbose: true}, 0, "leadergate: skipped \"sh -c touch ran\": assumed follower (--assume)\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Argv = sh("touch ran")
			cmd := launcher(t, "follower", c.opts)
			r := run(t, cmd)
			if r.code != c.code || r.stdout != "" || r.stderr != c.stderr {
				t.Errorf("got exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr %q", r.code, r.stdout, r.stderr, c.code, c.stderr)
			}
			if _, err := os.Stat(filepath.Join(cmd.Dir, "ran")); err == nil {
				t.Errorf("the command ran on a follower")
			}
		})
	}
}

func TestRunStartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\necho ran\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		argv0  string
		code   int
		stderr string
	}{
		{"a command not in PATH is 127", "leadergate-no-such-command", 127,
			`leadergate: error: run: "leadergate-no-such-command": command not found in PATH; check the name or give an absolute path` + "\n"},
		{"a file without x bit is 126", notExec, 126,
			`leadergate: error: run: "` + notExec + `": permission denied; make it executable (chmod +x) and check its filesystem is not mounted noexec` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, launcher(t, "leader", Options{Argv: []string{c.argv0, "arg"}}))
			if r.code != c.code || r.stdout != "" || r.stderr != c.stderr {
				t.Errorf("got exit %d, stdout %q, stderr %q; want %d and %q", r.code, r.stdout, r.stderr, c.code, c.stderr)
			}
		})
	}
}

func TestRunCannotTellRunsNothing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		auth string
		code int
	}{{"fail75", 75}, {"fail78", 78}} {
		t.Run(c.auth, func(t *testing.T) {
			cmd := launcher(t, c.auth, Options{Argv: sh("touch ran")})
			r := run(t, cmd)
			if r.code != c.code || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 ||
				!strings.HasPrefix(r.stderr, `leadergate: error: run: "sh -c touch ran" not run: `) {
				t.Errorf("got exit %d, stdout %q, stderr %q; want %d and one error line", r.code, r.stdout, r.stderr, c.code)
			}
			if _, err := os.Stat(filepath.Join(cmd.Dir, "ran")); err == nil {
				t.Errorf("the command ran although the election failed")
			}
		})
	}
}

func TestRunStaleVerdictRunsWithNote(t *testing.T) {
	t.Parallel()
	r := run(t, launcher(t, "stale-leader", Options{Argv: sh("echo ran")}))
	want := "leadergate: warning: using the verdict of 2025-01-01T00:00:00Z (--stale-ok): imds unreachable\n"
	if r.code != 0 || r.stdout != "ran\n" || r.stderr != want {
		t.Errorf("got exit %d, stdout %q, stderr %q; want the command's output and %q", r.code, r.stdout, r.stderr, want)
	}
}

func TestRunDryRunRunsNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, auth string
		opts       Options
		code       int
		stderr     string
	}{
		{"on a leader it says it would run", "leader", Options{}, 0, `leadergate: dry run: would run "sh -c touch ran" (/`},
		{"on a leader it exits as a follower would", "leader", Options{FollowerExit: 4}, 4, `leadergate: dry run: would run "sh -c touch ran" (/`},
		{"on a follower it says it would skip", "follower", Options{FollowerExit: 4}, 4, `leadergate: dry run: would skip "sh -c touch ran": assumed follower (--assume)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Argv, c.opts.DryRun = sh("touch ran"), true
			cmd := launcher(t, c.auth, c.opts)
			r := run(t, cmd)
			if r.code != c.code || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, c.stderr) {
				t.Errorf("got exit %d, stdout %q, stderr %q; want %d and one line starting %q", r.code, r.stdout, r.stderr, c.code, c.stderr)
			}
			if _, err := os.Stat(filepath.Join(cmd.Dir, "ran")); err == nil {
				t.Errorf("a dry run ran the command")
			}
		})
	}
}

func TestRunNoOverlap(t *testing.T) {
	t.Parallel()
	lockDir := t.TempDir()
	opts := Options{Argv: sh("echo ready; read x || true"), NoOverlap: true, LockDir: lockDir}

	// The first run holds the lock while it waits for a line on stdin.
	first := launcher(t, "leader", opts)
	stdin, err := first.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := startPiped(t, first)
	expectLine(t, out, "ready")

	r := run(t, launcher(t, "leader", opts))
	want := `leadergate: warning: skipped: previous run of "sh -c echo ready; read x || true" still running (--no-overlap)` + "\n"
	if r.code != 0 || r.stdout != "" || r.stderr != want {
		t.Errorf("second run: exit %d, stdout %q, stderr %q; want 0, nothing, %q", r.code, r.stdout, r.stderr, want)
	}

	other := opts
	other.Argv = sh("echo other")
	if r := run(t, launcher(t, "leader", other)); r.code != 0 || r.stdout != "other\n" {
		t.Errorf("another command was blocked: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	named := opts
	named.LockName = "shared"
	if r := run(t, launcher(t, "leader", named)); r.stdout != "ready\n" {
		t.Errorf("a run with its own --lock-name was blocked: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	stdin.Close()
	if _, err := io.ReadAll(out); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if code := StatusCode(first.ProcessState); code != 0 {
		t.Fatalf("first run exit %d", code)
	}
	if r := run(t, launcher(t, "leader", opts)); r.code != 0 || r.stdout != "ready\n" || r.stderr != "" {
		t.Errorf("run after the first ended: exit %d, stdout %q, stderr %q; want it to run", r.code, r.stdout, r.stderr)
	}
}

// extraFDs runs the fd lister, under the test CLI when opts is not nil,
// and returns the targets of its descriptors above 2, sorted.
func extraFDs(t *testing.T, opts *Options) []string {
	t.Helper()
	argv := []string{os.Args[0], listFDsArg}
	var cmd *exec.Cmd
	if opts == nil {
		cmd = exec.Command(argv[0], argv[1:]...)
	} else {
		o := *opts
		o.Argv = argv
		cmd = launcher(t, "leader", o)
	}
	r := run(t, cmd)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("fd lister: exit %d, stderr %q", r.code, r.stderr)
	}
	var extra []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		fd, target, _ := strings.Cut(line, " ")
		n, err := strconv.Atoi(fd)
		if err != nil {
			t.Fatalf("fd line %q", line)
		}
		if n > 2 {
			extra = append(extra, target)
		}
	}
	slices.Sort(extra)
	return extra
}

func TestRunLeaksNoDescriptors(t *testing.T) {
	t.Parallel()
	// What the lister sees when started directly: descriptors this test
	// inherited without close-on-exec, and those the Go runtime of the
	// lister opens itself. Through leadergate it must see no more, except
	// the overlap lock.
	baseline := extraFDs(t, nil)
	for _, mode := range []struct {
		name       string
		maxRuntime time.Duration
	}{{"exec", 0}, {"max-runtime", time.Minute}} {
		t.Run(mode.name, func(t *testing.T) {
			got := extraFDs(t, &Options{MaxRuntime: mode.maxRuntime})
			if !slices.Equal(got, baseline) {
				t.Errorf("without --no-overlap the command has extra fds %q; want %q", got, baseline)
			}
			lockDir := t.TempDir()
			got = extraFDs(t, &Options{MaxRuntime: mode.maxRuntime, NoOverlap: true, LockDir: lockDir, LockName: "fds"})
			want := append(slices.Clone(baseline), filepath.Join(lockDir, "run-fds.lock"))
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("with --no-overlap the command has extra fds %q; want %q", got, want)
			}
		})
	}
}

func TestRunMaxRuntime(t *testing.T) {
	t.Parallel()
	t.Run("the exit code passes through", func(t *testing.T) {
		r := run(t, launcher(t, "leader", Options{Argv: sh("echo $$; exit 7"), MaxRuntime: time.Minute}))
		if r.code != 7 || r.stderr != "" {
			t.Errorf("got exit %d, stderr %q; want 7", r.code, r.stderr)
		}
		if r.stdout == strconv.Itoa(r.pid)+"\n" {
			t.Errorf("the command ran in leadergate's process; want a child")
		}
	})
	t.Run("death by signal N is 128+N", func(t *testing.T) {
		if r := run(t, launcher(t, "leader", Options{Argv: sh("kill -KILL $$"), MaxRuntime: time.Minute})); r.code != 137 {
			t.Errorf("got exit %d, want 137", r.code)
		}
	})
	for _, c := range []struct {
		name, script string
		grace        time.Duration
	}{
		{"a process tree is stopped with SIGTERM, exit 124", "echo $$; sleep 300 & sleep 300; wait", 10 * time.Second},
		{"a tree that ignores SIGTERM gets SIGKILL after the grace, exit 124", `trap "" TERM; echo $$; sleep 300 & sleep 300; wait`, 200 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// 2s, not less: the shell must have set its trap and printed its
			// pid before the SIGTERM comes, even on a loaded 2-core machine.
			r := run(t, launcher(t, "leader", Options{Argv: sh(c.script), MaxRuntime: 2 * time.Second, Grace: c.grace}))
			want := `leadergate: error: run: ` + strconv.Quote("sh -c "+c.script) + ` ran longer than --max-runtime 2s and was stopped; raise --max-runtime or find out why it runs long` + "\n"
			if r.code != 124 || r.stderr != want {
				t.Errorf("got exit %d, stderr %q; want 124 and %q", r.code, r.stderr, want)
			}
			pgid, err := strconv.Atoi(strings.TrimSpace(r.stdout))
			if err != nil {
				t.Fatalf("stdout %q: want the command's pid", r.stdout)
			}
			waitGroupGone(t, pgid)
		})
	}
}

func TestRunMaxRuntimeForwardsSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			cmd := launcher(t, "leader", Options{
				Argv:       sh(`trap 'kill $! 2>/dev/null; echo got it; exit 5' TERM INT HUP; sleep 30 & echo $$; wait`),
				MaxRuntime: time.Minute,
			})
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out := startPiped(t, cmd)
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == strconv.Itoa(cmd.Process.Pid)+"\n" {
				t.Fatalf("the command ran in leadergate's process; want a child")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			expectLine(t, out, "got it")
			cmd.Wait()
			if code := StatusCode(cmd.ProcessState); code != 5 || stderr.Len() != 0 {
				t.Errorf("exit %d, stderr %q; want 5 from the command's trap and silence", code, stderr.String())
			}
		})
	}
}
