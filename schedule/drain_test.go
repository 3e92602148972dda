package schedule

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// A drain with a deadline lets leader-only runs go on until the deadline
// minus --grace, then stops them (SIGTERM, exit 143) and says it was the
// drain; runs on every instance are not the drain's business. LeaderJobs
// hears the number of leader-only runs each time it changes.
func TestDrainDeadlineStopsLeaderOnlyRunsGraceBeforeIt(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, fmt.Sprintf(`CRON_TZ=UTC
# name: billing
0 3 * * * touch %[1]s/billing; sleep 300
# name: local
[all] 0 3 * * * touch %[1]s/local; while [ ! -e %[1]s/release ]; do sleep 0.02; done
`, dir))
	clock := newFakeClock(t0)
	logs := newLogSink()
	drains := make(chan Drain, 1)
	counts := make(chan int, 10)
	grace := 2 * time.Second
	stop := startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Grace: grace,
		Drains: drains, LeaderJobs: func(n int) { counts <- n }})
	t.Cleanup(func() { os.WriteFile(filepath.Join(dir, "release"), nil, 0o600); stop() })

	clock.Advance(t, at03)
	logs.waitN(t, 2, "job started")
	deadline := at03.Add(2 * time.Minute)
	drains <- Drain{Reason: "spot interruption notice", Deadline: deadline}
	logs.wait(t, "draining: no new leader-only run starts here")
	// Until deadline - grace the run goes on.
	clock.Advance(t, deadline.Add(-grace))
	stopped := logs.wait(t, "job stopped by a drain", "job", "billing")
	if stopped.Attrs["exit_code"] != "143" {
		t.Errorf("billing stopped with %v, want exit 143 (SIGTERM)", stopped)
	}
	if got := logs.find("job stopped by a drain", "job", "local"); len(got) != 0 {
		t.Errorf("the drain stopped an every-instance job: %v", got)
	}
	for _, want := range []int{1, 0} {
		select {
		case n := <-counts:
			if n != want {
				t.Errorf("LeaderJobs heard %d, want %d", n, want)
			}
		case <-time.After(wait):
			t.Fatalf("LeaderJobs did not hear %d", want)
		}
	}
}

// A drain without a deadline (an operator's, a lifecycle state) lets the
// running leader-only jobs finish.
func TestDrainWithoutDeadlineLetsRunsFinish(t *testing.T) {
	dir := t.TempDir()
	path := writeCrontab(t, dir, fmt.Sprintf("CRON_TZ=UTC\n0 3 * * * %s\n", blockingJob(dir)))
	clock := newFakeClock(t0)
	logs := newLogSink()
	drains := make(chan Drain, 1)
	startRun(t, Options{File: path, Authority: gate.Assume(true), Logger: logs.logger(), Refresh: -1, Clock: clock, Drains: drains})
	clock.Advance(t, at03)
	logs.wait(t, "job started")
	drains <- Drain{Reason: "operator drain"}
	logs.wait(t, "draining: no new leader-only run starts here")
	clock.Advance(t, at03.Add(time.Hour))
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o600)
	logs.wait(t, "job finished")
}
