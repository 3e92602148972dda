package sdnotify

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/schedule"
)

// TestReadyThenWatchdog runs the scheduler with NOTIFY_SOCKET set to a
// socket the test reads, as systemd would with Type=notify and
// WatchdogSec: READY=1 comes once after the schedule is loaded, then
// WATCHDOG=1 keeps coming while the loop runs (no job is due for a minute
// or more, so only the heartbeat makes the loop go round).
func TestReadyThenWatchdog(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "300000") // 0.3s: a heartbeat every 0.1s
	t.Setenv("WATCHDOG_PID", "")
	file := filepath.Join(dir, "jobs.cron")
	if err := os.WriteFile(file, []byte("0 3 * * * true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := New(slog.New(slog.DiscardHandler))
	if n == nil || n.Watchdog != 300*time.Millisecond {
		t.Fatalf("New with NOTIFY_SOCKET and WATCHDOG_USEC=300000: %+v", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- schedule.Run(ctx, schedule.Options{File: file, Authority: gate.Assume(true), Refresh: -1, Hooks: n, Heartbeat: n.Heartbeat()})
	}()
	var got []string
	buf := make([]byte, 256)
	for watchdogs := 0; watchdogs < 3; {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		msg := strings.TrimSpace(string(buf[:k]))
		got = append(got, msg)
		if msg == "WATCHDOG=1" {
			watchdogs++
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got[0] != "READY=1" || strings.Count(strings.Join(got, " "), "READY=1") != 1 {
		t.Errorf("messages %q: want READY=1 first and once", got)
	}
}

// TestOutsideSystemd: without NOTIFY_SOCKET there is no notifier.
func TestOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if n := New(slog.New(slog.DiscardHandler)); n != nil {
		t.Errorf("New without NOTIFY_SOCKET: %+v, want nil", n)
	}
}
