package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/proctest"
)

// schedGrace is the schedulers' --grace; a SIGTERMed scheduler must exit
// within it (plus stopMargin for the process to be reaped on a busy machine).
const (
	schedGrace = 5 * time.Second
	stopMargin = 5 * time.Second
	// The throttling round lasts faultFor; runs that land in its first
	// faultSlack may have been decided before it began.
	faultFor   = 6 * time.Second
	faultSlack = 3 * time.Second
)

// TestScheduleFleetAgainstMoto runs "leadergate schedule" as a daemon on
// three instances of one group against moto_server, with a job due every
// second, and checks what an operator would see in the job's own output:
// only the oldest instance runs it, no tick runs twice, leadership moves to
// the next oldest when the leader dies, nothing runs while EC2 throttles,
// and every scheduler stops cleanly on SIGTERM.
func TestScheduleFleetAgainstMoto(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	began := time.Now()
	moto, proxy, launch := motoFleet(t)
	ids := launch(3, "e-main")

	work := t.TempDir()
	ranLog := filepath.Join(work, "ran.log")
	crontab := filepath.Join(work, "leader-jobs.cron")
	// The run time ($(date)) tells a late run from one made during a fault;
	// the tick is what must never repeat.
	line := fmt.Sprintf("* * * * * * echo \"$ID $LEADERGATE_SCHEDULED_AT $(date +%%s.%%N)\" >> '%s'\n", ranLog)
	if err := os.WriteFile(crontab, []byte("# name: every-second\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}

	scheds := map[string]*scheduler{}
	var order []string // instance ids in launch (RunInstances) order
	for _, id := range ids {
		order = append(order, id)
		scheds[id] = startScheduler(t, newNode(t, id, proxy.URL()),
			"schedule", "--refresh", "2s", "--max-age", "0s", "--log-format", "json", "--grace", schedGrace.String(), crontab)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b, _ := os.ReadFile(ranLog)
		t.Logf("ran.log:\n%s", b)
		for _, id := range order {
			t.Logf("stderr of the scheduler on %s:\n%s", id, scheds[id].stderr.String())
		}
	})

	ran := func() []ranLine { return readRan(t, ranLog) }
	// noTickTwice is the fleet-wide promise: each scheduled second ran at
	// most once, whoever ran it.
	noTickTwice := func(lines []ranLine) {
		t.Helper()
		seen := map[time.Time]string{}
		for _, l := range lines {
			if other, ok := seen[l.tick]; ok {
				t.Errorf("tick %s ran twice: on %s and on %s", l.tick.Format(time.RFC3339), other, l.id)
			}
			seen[l.tick] = l.id
		}
	}

	// Phase 1: steady state. Only the oldest instance runs the job.
	leader := oldestRunning(t, moto.EC2)
	if !waitFor(15*time.Second, func() bool { return len(distinctTicks(ran())) >= 4 }) {
		t.Fatalf("no 4 ticks ran within 15s of starting 3 schedulers (got %d lines)", len(ran()))
	}
	phase1 := ran()
	for _, l := range phase1 {
		if l.id != leader {
			t.Errorf("steady state: %s ran tick %s; only the oldest instance %s should", l.id, l.tick.Format(time.RFC3339), leader)
		}
	}
	noTickTwice(phase1)
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("steady state: %d ticks ran, all on the oldest instance %s", len(phase1), leader)

	// Phase 2: the leader dies. Its scheduler first (it must stop cleanly),
	// then its instance: half a second into a tick, so the others' elections
	// for that tick, made at its start, all saw it running.
	sigterm := time.Now()
	scheds[leader].stopWithin(t, schedGrace+stopMargin)
	sleepToHalfSecond()
	if _, err := moto.EC2.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{leader}}); err != nil {
		t.Fatal(err)
	}
	death := time.Now()
	next := oldestRunning(t, moto.EC2)
	if next == leader {
		t.Fatalf("moto still shows the terminated %s as the oldest running instance", leader)
	}
	var first ranLine
	if !waitFor(10*time.Second, func() bool {
		for _, l := range ran() {
			if l.id != leader {
				first = l
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no other instance ran the job within 10s of the leader %s terminating", leader)
	}
	if first.id != next {
		t.Errorf("after %s terminated, %s ran the job; the next oldest running instance is %s", leader, first.id, next)
	}
	t.Logf("handover: %s's first run (tick %s, the %s tick after the termination) came %.2fs after its predecessor's instance terminated (%.2fs after its scheduler got SIGTERM)",
		next, first.tick.Format("15:04:05"), ordinal(int(first.tick.Sub(death.Truncate(time.Second))/time.Second)),
		first.ranAt.Sub(death).Seconds(), first.ranAt.Sub(sigterm).Seconds())
	if !waitFor(10*time.Second, func() bool { return len(ticksOf(ran(), next)) >= 4 }) {
		t.Fatalf("the new leader %s did not run 4 ticks within 10s", next)
	}
	phase2 := ran()
	noTickTwice(phase2)
	for _, l := range phase2 {
		if l.tick.After(first.tick) && l.id != next {
			t.Errorf("after the handover to %s, %s ran tick %s", next, l.id, l.tick.Format(time.RFC3339))
		}
	}
	if gap := ticksBetween(phase2, leader, next); gap > 0 {
		t.Logf("handover: %d ticks ran nowhere between the old leader's last run and the new leader's first", gap)
	}
	// The background refresh tells the operator and publishes the marker.
	if !waitFor(10*time.Second, func() bool { return scheds[next].logged("became leader") }) {
		t.Errorf("the new leader %s never logged \"became leader\"", next)
	}
	for id, s := range scheds {
		if id == leader {
			continue
		}
		_, err := os.Stat(s.marker)
		if has := err == nil; has != (id == next) {
			t.Errorf("marker file on %s exists=%t, want %t", id, has, id == next)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Fault round: EC2 throttles every call. Nobody can tell who leads, so
	// nobody runs the job (fail closed); once the fault clears, the leader
	// resumes.
	inject := time.Now()
	proxy.Inject(awsfake.Fault{Kind: awsfake.Throttle})
	time.Sleep(faultFor)
	proxy.ClearFaults()
	cleared := time.Now()
	var resumed ranLine
	if !waitFor(15*time.Second, func() bool {
		for _, l := range ran() {
			if l.tick.After(cleared) {
				resumed = l
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no job ran within 15s of the throttling ending")
	}
	if resumed.id != next {
		t.Errorf("after the throttling, %s ran the job; the leader is %s", resumed.id, next)
	}
	t.Logf("fault round: the leader resumed with tick %s, %.2fs after the throttling ended",
		resumed.tick.Format("15:04:05"), resumed.ranAt.Sub(cleared).Seconds())
	fault := ran()
	noTickTwice(fault)
	// A run decided just before the fault may still be writing its line
	// (on a loaded machine, seconds later): faultSlack of slack. Later, no
	// election can succeed until the fault clears.
	for _, l := range fault {
		if l.ranAt.After(inject.Add(faultSlack)) && l.ranAt.Before(cleared) {
			t.Errorf("%s ran tick %s at %s, while EC2 was throttling every call", l.id, l.tick.Format(time.RFC3339), l.ranAt.Format("15:04:05.000"))
		}
		if l.tick.After(inject) && l.id != next {
			t.Errorf("around the fault, %s ran tick %s; the leader is %s", l.id, l.tick.Format(time.RFC3339), next)
		}
		if !l.tick.Before(inject) && l.tick.Before(cleared) && !l.ranAt.Before(cleared) {
			// Its election was retried by the SDK and succeeded after the
			// fault: late, but cleared by a real election.
			t.Logf("fault round: tick %s ran %.2fs late, after the throttling ended", l.tick.Format("15:04:05"), l.ranAt.Sub(l.tick).Seconds())
		}
	}
	// Not asserted: the SDK retries a throttled call for up to ~4s, so an
	// election begun in a 3s fault may still succeed after it, unwarned.
	for _, id := range order {
		if id != leader {
			t.Logf("fault round: %s logged %d warnings that it could not tell who leads", id,
				scheds[id].countSince(inject, "job skipped: cannot tell whether this instance is the leader",
					"cannot tell whether this instance is the leader; leader-only jobs are skipped until it can"))
		}
	}

	// Phase 3: SIGTERM the remaining schedulers: each exits 0 in its grace,
	// and nothing runs afterwards.
	var wg sync.WaitGroup
	for _, id := range order {
		if id == leader {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			scheds[id].stopWithin(t, schedGrace+stopMargin)
		}()
	}
	wg.Wait()
	stopped := len(ran())
	time.Sleep(1500 * time.Millisecond)
	if n := len(ran()); n != stopped {
		t.Errorf("%d job runs after every scheduler stopped", n-stopped)
	}
	t.Logf("whole test: %.1fs", time.Since(began).Seconds())
}

// scheduler is one "leadergate schedule" process on one node.
type scheduler struct {
	id     string
	marker string
	cmd    *exec.Cmd
	stderr *proctest.Buffer
	done   chan struct{} // closed when the process has been waited for
}

func startScheduler(t *testing.T, n *node, args ...string) *scheduler {
	t.Helper()
	s := &scheduler{id: n.id, stderr: &proctest.Buffer{}, done: make(chan struct{})}
	for _, kv := range n.env {
		if v, ok := strings.CutPrefix(kv, "LEADERGATE_MARKER="); ok {
			s.marker = v
		}
	}
	s.cmd = exec.Command("leadergate", args...)
	s.cmd.Env = n.env
	s.cmd.Stderr = s.stderr
	// Its own group, so a terminal's Ctrl-C reaches only go test.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start the scheduler on %s: %v", n.id, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
	return s
}

// stopWithin sends SIGTERM and expects exit status 0 within d.
func (s *scheduler) stopWithin(t *testing.T, d time.Duration) {
	t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM the scheduler on %s: %v", s.id, err)
		return
	}
	select {
	case <-s.done:
	case <-time.After(d):
		t.Errorf("the scheduler on %s did not exit within %s of SIGTERM", s.id, d)
		return
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the scheduler on %s exited %d on SIGTERM (%s), want 0", s.id, code, s.cmd.ProcessState)
	}
	t.Logf("the scheduler on %s exited %d %.2fs after SIGTERM", s.id, s.cmd.ProcessState.ExitCode(), time.Since(start).Seconds())
}

// logged reports whether the scheduler logged a record with message msg.
func (s *scheduler) logged(msg string) bool { return s.countSince(time.Time{}, msg) > 0 }

// countSince counts the scheduler's log records with one of msgs, since a time.
func (s *scheduler) countSince(since time.Time, msgs ...string) int {
	n := 0
	for l := range strings.Lines(s.stderr.String()) {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && slices.Contains(msgs, rec.Msg) && !rec.Time.Before(since) {
			n++
		}
	}
	return n
}

// ranLine is one run of the job, as it wrote it: who, which tick, when.
type ranLine struct {
	id    string
	tick  time.Time
	ranAt time.Time
}

// readRan returns the complete lines of the job's log, in write order.
func readRan(t *testing.T, path string) []ranLine {
	t.Helper()
	var out []ranLine
	for _, l := range completeLines(t, path) {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("malformed job output %q", l)
		}
		tick, err := time.Parse(time.RFC3339, f[1])
		if err != nil {
			t.Fatalf("job output %q: LEADERGATE_SCHEDULED_AT: %v", l, err)
		}
		secs, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			t.Fatalf("job output %q: run time: %v", l, err)
		}
		out = append(out, ranLine{id: f[0], tick: tick, ranAt: time.Unix(0, int64(secs*1e9))})
	}
	return out
}

func distinctTicks(lines []ranLine) map[time.Time]bool {
	m := map[time.Time]bool{}
	for _, l := range lines {
		m[l.tick] = true
	}
	return m
}

func ticksOf(lines []ranLine, id string) []time.Time {
	var ts []time.Time
	for _, l := range lines {
		if l.id == id {
			ts = append(ts, l.tick)
		}
	}
	return ts
}

// ticksBetween counts the seconds between from's last tick and to's first.
func ticksBetween(lines []ranLine, from, to string) int {
	a, b := ticksOf(lines, from), ticksOf(lines, to)
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	return int(slices.MinFunc(b, time.Time.Compare).Sub(slices.MaxFunc(a, time.Time.Compare))/time.Second) - 1
}

// oldestRunning is the ground truth: the group as moto shows it, through
// the same pure choice every instance makes.
func oldestRunning(t *testing.T, c *ec2.Client) string {
	t.Helper()
	var group []elect.Instance
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + elect.TagEnvironmentID), Values: []string{"e-main"}},
	}})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				in := elect.Instance{ID: aws.ToString(i.InstanceId), LaunchTime: aws.ToTime(i.LaunchTime)}
				if i.State != nil {
					in.State = string(i.State.Name)
				}
				group = append(group, in)
			}
		}
	}
	v := elect.Choose("", group)
	if v.LeaderID == "" {
		t.Fatalf("moto shows no running instance in the group: %+v", group)
	}
	return v.LeaderID
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return strconv.Itoa(n) + "th"
}

// waitFor polls cond until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sleepToHalfSecond sleeps until the middle of the next wall-clock second,
// away from the ticks at whole seconds.
func sleepToHalfSecond() {
	now := time.Now()
	at := now.Truncate(time.Second).Add(500 * time.Millisecond)
	if !at.After(now) {
		at = at.Add(time.Second)
	}
	time.Sleep(at.Sub(now))
}
