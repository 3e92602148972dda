package gate

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// liveMembers lists the processes of group pgid that are not zombies.
func liveMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var live []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid && f[0] != "Z" && f[0] != "X" {
			live = append(live, pid)
		}
	}
	return live
}

// waitGroupGone waits (bounded) until no live process is left in group pgid.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		live := liveMembers(t, pgid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of group %d still alive", live, pgid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startReporting runs script with sh in RunGroup in the background; the
// script's first output line must be its pid ($$), returned as the pgid.
func startReporting(t *testing.T, ctx context.Context, grace time.Duration, script string) (pgid int, done <-chan int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdout = w
	ch := make(chan int, 1)
	started := make(chan error, 1)
	go func() {
		g, err := StartGroup(cmd)
		w.Close()
		started <- err
		if err != nil {
			return
		}
		code, _ := g.Wait(ctx, grace)
		ch <- code
	}()
	if err := <-started; err != nil {
		t.Fatalf("start: %v", err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("read pid line: %v", err)
	}
	pgid, err = strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("pid line %q: %v", line, err)
	}
	return pgid, ch
}

func waitCode(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("RunGroup did not return within 30s")
		return -1
	}
}

func TestRunGroupExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		script string
		want   int
	}{
		{"a clean exit is 0", "exit 0", 0},
		{"the exit status passes through", "exit 7", 7},
		{"death by SIGKILL is 137", "kill -KILL $$", 137},
		{"death by SIGTERM is 143", "kill -TERM $$", 143},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, err := RunGroup(t.Context(), exec.Command("sh", "-c", c.script), time.Second)
			if err != nil {
				t.Fatalf("RunGroup: %v", err)
			}
			if code != c.want {
				t.Errorf("code = %d, want %d", code, c.want)
			}
		})
	}
}

func TestRunGroupStartErrors(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badInterp := filepath.Join(dir, "badinterp")
	if err := os.WriteFile(badInterp, []byte("#!/nonexistent/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		want int
		msg  string
	}{
		{"a name not in PATH is 127", "leadergate-no-such-command", 127, "command not found in PATH"},
		{"a missing path is 127", filepath.Join(dir, "missing"), 127, "no such file"},
		{"a missing #! interpreter is 127", badInterp, 127, "interpreter"},
		{"a file without x bit is 126", notExec, 126, "chmod +x"},
		{"a directory is 126", dir, 126, "directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, err := RunGroup(t.Context(), exec.Command(c.path), time.Second)
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *StartError", err)
			}
			if code != c.want || se.ExitCode() != c.want {
				t.Errorf("code = %d, ExitCode() = %d, want %d", code, se.ExitCode(), c.want)
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), strconv.Quote(c.path)) {
				t.Errorf("message %q: want the quoted name and %q", err, c.msg)
			}
		})
	}
}

func TestRunGroupCancelKillsTree(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Two sleeps: one in the background, one in the foreground.
	pgid, done := startReporting(t, ctx, time.Minute, "echo $$; sleep 300 & sleep 300; wait")
	if n := len(liveMembers(t, pgid)); n < 3 {
		// sh and two sleeps; give the shell a moment to fork them.
		deadline := time.Now().Add(5 * time.Second)
		for len(liveMembers(t, pgid)) < 3 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if n := len(liveMembers(t, pgid)); n != 3 {
		t.Fatalf("group %d has %d live processes, want 3 (sh and two sleeps)", pgid, n)
	}
	cancel()
	if code := waitCode(t, done); code != 143 {
		t.Errorf("code = %d, want 143 (SIGTERM)", code)
	}
	// SIGTERM is enough here, so RunGroup returns only once all are gone.
	if live := liveMembers(t, pgid); len(live) != 0 {
		t.Errorf("RunGroup returned with processes %v of the group still running", live)
	}
}

func TestRunGroupCancelKillsWhatIgnoresTERM(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Ignored signals stay ignored across fork and exec: the sleeps ignore
	// SIGTERM too, so only SIGKILL after the grace period ends them.
	pgid, done := startReporting(t, ctx, 200*time.Millisecond, `trap "" TERM; echo $$; sleep 300 & sleep 300; wait`)
	cancel()
	if code := waitCode(t, done); code != 128+int(syscall.SIGKILL) {
		t.Errorf("code = %d, want 137 (SIGKILL)", code)
	}
	waitGroupGone(t, pgid)
}

func TestGroupSignalAfterWait(t *testing.T) {
	g, err := StartGroup(exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	if code, cancelled := g.Wait(t.Context(), time.Second); code != 0 || cancelled {
		t.Fatalf("Wait = %d, %v; want 0, false", code, cancelled)
	}
	if err := g.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after Wait = %v, want os.ErrProcessDone", err)
	}
}
