package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/elect/awsfake"
)

// Whole-process benchmarks: what cron pays per line. They print figures and
// assert nothing about time (the machines are noisy); scripts/bench.sh runs
// them next to `sh -c 'test -e FILE'`.

func benchNode(b *testing.B, region, group int) *node {
	f := awsfake.NewEC2(awsfake.WithSeed(3))
	b.Cleanup(f.Close)
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	var self string
	for i := range region {
		env := fmt.Sprintf("e-%d", i%97+1)
		if i < group {
			env = "e-main"
		}
		in := f.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: env}, LaunchTime: base.Add(time.Duration(i) * time.Second)})
		if i == 0 {
			self = in.ID
		}
	}
	n := newNode(b, self, f.URL())
	return n
}

func runProcess(b *testing.B, n *node, args ...string) (maxRSSKB int64) {
	cmd := exec.Command("leadergate", args...)
	cmd.Env = n.env
	if err := cmd.Run(); err != nil {
		b.Fatalf("leadergate %v: %v", args, err)
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

func BenchmarkProcessShTestE(b *testing.B) {
	marker := filepath.Join(b.TempDir(), "marker")
	os.WriteFile(marker, nil, 0o644)
	for range b.N {
		if err := exec.Command("sh", "-c", "test -e "+marker).Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProcessCheckCached(b *testing.B) {
	n := benchNode(b, 5, 3)
	n.env = append(n.env, "LEADERGATE_MAX_AGE=1h")
	runProcess(b, n, "check")
	b.ResetTimer()
	for range b.N {
		runProcess(b, n, "check")
	}
}

func BenchmarkProcessRunTrueCached(b *testing.B) {
	n := benchNode(b, 5, 3)
	n.env = append(n.env, "LEADERGATE_MAX_AGE=1h")
	runProcess(b, n, "check")
	b.ResetTimer()
	for range b.N {
		runProcess(b, n, "run", "--", "true")
	}
}

// BenchmarkProcessElectScale is a whole `leadergate elect` process against
// 1,000 instances in the group and 10,000 in the region.
func BenchmarkProcessElectScale(b *testing.B) {
	n := benchNode(b, 10000, 1000)
	runProcess(b, n, "elect")
	b.ResetTimer()
	var rss int64
	for range b.N {
		rss = max(rss, runProcess(b, n, "elect"))
	}
	b.ReportMetric(float64(rss)/1024, "maxRSS-MB")
}
