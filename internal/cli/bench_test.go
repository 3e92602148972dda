package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
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

func runProcess(b *testing.B, n *node, args ...string) {
	cmd := exec.Command("leadergate", args...)
	cmd.Env = n.env
	if err := cmd.Run(); err != nil {
		b.Fatalf("leadergate %v: %v", args, err)
	}
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
// 1,000 instances in the group and 10,000 in the region. Its peak RSS is
// read through /usr/bin/time: Go starts children with vfork, so a child's
// own rusage would include this big test process's memory.
func BenchmarkProcessElectScale(b *testing.B) {
	n := benchNode(b, 10000, 1000)
	runProcess(b, n, "elect")
	timeBin, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		b.Log("no /usr/bin/time (Debian package time): peak RSS not measured")
	}
	b.ResetTimer()
	var rssKB int
	for range b.N {
		if timeBin == "" {
			runProcess(b, n, "elect")
			continue
		}
		cmd := exec.Command(timeBin, "-f", "%M", "leadergate", "elect")
		cmd.Env = n.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("leadergate elect: %v\n%s", err, out)
		}
		fields := strings.Fields(string(out))
		kb, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			b.Fatalf("/usr/bin/time printed %q", out)
		}
		rssKB = max(rssKB, kb)
	}
	if rssKB > 0 {
		b.ReportMetric(float64(rssKB)/1024, "maxRSS-MB")
	}
}
