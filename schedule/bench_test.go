package schedule

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// idleChildEnv makes the test binary run a scheduler instead of tests:
// BenchmarkIdleRSS measures that process from outside.
const idleChildEnv = "LEADERGATE_SCHEDULE_IDLE_CHILD"

func TestMain(m *testing.M) {
	if file := os.Getenv(idleChildEnv); file != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if err := Run(ctx, Options{File: file, Authority: gate.Assume(true), Logger: log}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// vmRSS reads a process's resident set size in KiB from /proc.
func vmRSS(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// BenchmarkIdleRSS runs a scheduler with the 100 jobs of
// testdata/crontab/bench-100.cron in a child process (this test binary,
// which links the scheduler, slog and the testing package, but not the AWS
// SDK) and reports its resident memory after 2 s idle.
func BenchmarkIdleRSS(b *testing.B) {
	file, err := filepath.Abs(filepath.Join(crontabDir, "bench-100.cron"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), idleChildEnv+"="+file)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		kib, err := vmRSS(cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGTERM)
		if werr := cmd.Wait(); werr != nil {
			b.Errorf("idle scheduler: %v", werr)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(kib)/1024, "MiB-RSS")
	}
}

// BenchmarkLateness runs 1 and 100 leader-only jobs every second for 3
// seconds on the real clock and reports how late they started behind their
// tick (the moment before the process is spawned: it includes the goroutine
// start, the Authority's answer and, with 100 jobs, the spawning of the
// jobs before it).
func BenchmarkLateness(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) { benchLateness(b, n) })
	}
}

func benchLateness(b *testing.B, jobs int) {
	dir := b.TempDir()
	var sb strings.Builder
	for i := 0; i < jobs; i++ {
		fmt.Fprintf(&sb, "* * * * * * true %d\n", i)
	}
	path := filepath.Join(dir, "leader-jobs.cron")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		logs := newLogSink()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1})
		}()
		time.Sleep(3500 * time.Millisecond)
		cancel()
		<-done
		var late []time.Duration
		for _, r := range logs.find("job started") {
			d, err := time.ParseDuration(r.Attrs["lateness"])
			if err != nil {
				b.Fatal(err)
			}
			late = append(late, d)
		}
		if len(late) == 0 {
			b.Fatal("no job started")
		}
		slices.Sort(late)
		b.ReportMetric(float64(len(late)), "runs")
		b.ReportMetric(float64(late[0].Microseconds())/1000, "ms-min")
		b.ReportMetric(float64(late[len(late)/2].Microseconds())/1000, "ms-p50")
		b.ReportMetric(float64(late[len(late)*99/100].Microseconds())/1000, "ms-p99")
		b.ReportMetric(float64(late[len(late)-1].Microseconds())/1000, "ms-max")
	}
}
