package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/aemm"
	"github.com/leadergate/leadergate/internal/awsfake"
)

const (
	msgDrained      = "draining: stepped down, the next oldest instance leads from its next election"
	msgUndrainStart = "removed the drain left by the last run on this instance"
	noticeDelay     = 4 // seconds after the mock starts
)

var aemmBin = sync.OnceValues(aemm.Build)

// drainFleet is three instances of one group in the in-process EC2
// emulator, each running "leadergate schedule" with a job due every second;
// the oldest reads its IMDS from amazon-ec2-metadata-mock started with
// mockArgs (nil: the in-process IMDS, like the others).
type drainFleet struct {
	ec2    *awsfake.EC2
	ids    []string // oldest first
	nodes  []*node
	scheds []*scheduler
	mock   *aemm.Mock
	ranLog string
	cron   string
	args   []string // more scheduler flags
}

func startDrainFleet(t *testing.T, mockArgs ...string) *drainFleet {
	return startDrainFleetWith(t, nil, mockArgs...)
}

func startDrainFleetWith(t *testing.T, schedArgs []string, mockArgs ...string) *drainFleet {
	t.Helper()
	f := &drainFleet{ec2: awsfake.NewEC2(), args: schedArgs}
	t.Cleanup(f.ec2.Close)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 3 {
		in := f.ec2.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-main"}, LaunchTime: base.Add(time.Duration(i) * time.Minute)})
		f.ids = append(f.ids, in.ID)
		f.nodes = append(f.nodes, newNode(t, in.ID, f.ec2.URL()))
	}
	if mockArgs != nil {
		bin, err := aemmBin()
		if aemm.Skip(err) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		f.mock, err = aemm.Start(bin, t.TempDir(), f.ids[0], f.ec2.Region(), mockArgs...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.mock.Close)
		f.nodes[0].env = append(f.nodes[0].env, "AWS_EC2_METADATA_SERVICE_ENDPOINT="+f.mock.URL)
	}
	work := t.TempDir()
	f.ranLog = filepath.Join(work, "ran.log")
	f.cron = filepath.Join(work, "leader-jobs.cron")
	line := fmt.Sprintf("* * * * * * echo \"$ID $LEADERGATE_SCHEDULED_AT $(date +%%s.%%N)\" >> '%s'\n", f.ranLog)
	if err := os.WriteFile(f.cron, []byte("# name: every-second\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range f.nodes {
		f.scheds = append(f.scheds, f.start(t, n))
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(f.ranLog)
			t.Logf("ran.log:\n%s", b)
			for _, s := range f.scheds {
				t.Logf("stderr of the scheduler on %s:\n%s", s.id, s.stderr.String())
			}
			if f.mock != nil {
				t.Logf("mock log:\n%s", f.mock.Log())
			}
		}
	})
	return f
}

func (f *drainFleet) start(t *testing.T, n *node) *scheduler {
	args := append([]string{"schedule", "--refresh", "2s", "--max-age", "0s", "--log-format", "json",
		"--grace", schedGrace.String()}, f.args...)
	return startScheduler(t, n, append(args, f.cron)...) // the default --imds-poll 5s
}

func (f *drainFleet) ran(t *testing.T) []ranLine { return readRan(t, f.ranLog) }

// recordTime is the time of the first record msg of s, or zero.
func recordTime(s *scheduler, msg string) time.Time {
	for l := range strings.Lines(s.stderr.String()) {
		if strings.Contains(l, `"msg":"`+msg+`"`) {
			var at time.Time
			if i := strings.Index(l, `"time":"`); i >= 0 {
				at, _ = time.Parse(time.RFC3339Nano, l[i+8:i+8+strings.IndexByte(l[i+8:], '"')])
			}
			return at
		}
	}
	return time.Time{}
}

// createTagsOn counts CreateTags calls naming instance id since the last reset.
func createTagsOn(e *awsfake.EC2, action, id string) int {
	n := 0
	for _, c := range e.CallLog() {
		if c.Action == action && c.Attempt <= 1 && slices.Contains(resourceIDs(c), id) {
			n++
		}
	}
	return n
}

func resourceIDs(c awsfake.Call) []string {
	var ids []string
	for k, v := range c.Params {
		if strings.HasPrefix(k, "ResourceId.") {
			ids = append(ids, v...)
		}
	}
	return ids
}

// handover checks what the issue promises once the oldest instance has been
// told it is leaving at noticeAt: it drains within 10 s, the next oldest runs
// the next ticks, the old leader runs nothing after its drain, and the drain
// cost one CreateTags on itself. It returns the drain's time.
func (f *drainFleet) handover(t *testing.T, noticeAt time.Time, how string) time.Time {
	t.Helper()
	old, next := f.scheds[0], f.ids[1]
	var drained time.Time
	if !waitFor(12*time.Second, func() bool { drained = recordTime(old, msgDrained); return !drained.IsZero() }) {
		t.Fatalf("%s: the leader did not drain within 12s of the notice", how)
	}
	if d := drained.Sub(noticeAt); d > 10*time.Second {
		t.Errorf("%s: the leader drained %.2fs after the notice, want within 10s", how, d.Seconds())
	}
	var first ranLine
	if !waitFor(10*time.Second, func() bool {
		for _, l := range f.ran(t) {
			if l.id != f.ids[0] {
				first = l
				return true
			}
		}
		return false
	}) {
		t.Fatalf("%s: no other instance ran the job within 10s of the drain", how)
	}
	if first.id != next {
		t.Errorf("%s: %s ran first after the drain; the next oldest is %s", how, first.id, next)
	}
	// Let a few more ticks pass: the old leader must stay out.
	if !waitFor(10*time.Second, func() bool { return len(ticksOf(f.ran(t), next)) >= 3 }) {
		t.Fatalf("%s: the next oldest ran fewer than 3 ticks within 10s of taking over", how)
	}
	lines := f.ran(t)
	for _, l := range lines {
		if l.id == f.ids[0] && l.tick.After(drained) {
			t.Errorf("%s: the drained leader ran tick %s after draining at %s", how, l.tick.Format(time.RFC3339), drained.Format(time.RFC3339Nano))
		}
	}
	seen := map[time.Time]string{}
	for _, l := range lines {
		if other, ok := seen[l.tick]; ok {
			t.Errorf("%s: tick %s ran twice: on %s and on %s", how, l.tick.Format(time.RFC3339), other, l.id)
		}
		seen[l.tick] = l.id
	}
	missed := ticksBetween(lines, f.ids[0], next)
	if missed > 1 {
		t.Errorf("%s: %d ticks ran nowhere around the handover, want at most 1", how, missed)
	}
	drainTags := createTagsOn(f.ec2, "CreateTags", f.ids[0])
	t.Logf("%s: notice -> drained %.2fs, notice -> first run on the next oldest %.2fs (tick %s), %d tick(s) missed, CreateTags on the drained instance: %d, DeleteTags: %d, CreateTags by all: %d",
		how, drained.Sub(noticeAt).Seconds(), first.ranAt.Sub(noticeAt).Seconds(), first.tick.Format("15:04:05"), missed,
		drainTags, createTagsOn(f.ec2, "DeleteTags", f.ids[0]), f.ec2.Calls("CreateTags"))
	if drainTags != 1 {
		t.Errorf("%s: %d CreateTags on the drained instance, want 1 (leader=false and the draining tags at once)", how, drainTags)
	}
	tags := f.ec2.Tags(f.ids[0])
	if tags[elect.DrainingTag] == "" || tags[elect.LeaderTag] != "false" {
		t.Errorf("%s: tags of the drained instance: %v", how, tags)
	}
	for _, id := range f.ids[1:] {
		if _, has := f.ec2.Tags(id)[elect.DrainingTag]; has {
			t.Errorf("%s: %s carries the draining tag too", how, id)
		}
	}
	return drained
}

// waitNotice polls the mock until path answers 200 and returns when.
func waitNotice(t *testing.T, m *aemm.Mock, path string, within time.Duration) time.Time {
	t.Helper()
	tok, err := m.Token()
	if err != nil {
		t.Fatal(err)
	}
	var at time.Time
	if !waitFor(within, func() bool {
		code, err := m.Get(tok, path)
		if err == nil && code == 200 {
			at = time.Now()
			return true
		}
		return false
	}) {
		t.Fatalf("the mock did not serve %s within %s", path, within)
	}
	return at
}

func TestDrainOnSpotInterruptionNotice(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	f := startDrainFleet(t, "spot", "-d", fmt.Sprint(noticeDelay))
	if !waitFor(15*time.Second, func() bool { return len(ticksOf(f.ran(t), f.ids[0])) >= 1 }) {
		t.Fatal("the oldest instance ran nothing within 15s")
	}
	f.ec2.ResetCalls()
	noticeAt := waitNotice(t, f.mock, "/latest/meta-data/spot/instance-action", 2*noticeDelay*time.Second)
	f.handover(t, noticeAt, "spot interruption")
	// The mock served a rebalance recommendation from the start: by default
	// it is only a hint and drained nothing.
	if !strings.Contains(f.scheds[0].stderr.String(), `"reason":"spot interruption notice: terminate at `) {
		t.Error("the drain's reason is not the spot notice")
	}
}

// With --drain-on-rebalance, a rebalance recommendation drains too.
func TestDrainOnRebalanceRecommendationWhenAsked(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	f := startDrainFleetWith(t, []string{"--drain-on-rebalance"}, "spot", "-d", "600", "--rebalance-delay-sec", fmt.Sprint(noticeDelay))
	if !waitFor(15*time.Second, func() bool { return len(ticksOf(f.ran(t), f.ids[0])) >= 1 }) {
		t.Fatal("the oldest instance ran nothing within 15s")
	}
	f.ec2.ResetCalls()
	noticeAt := waitNotice(t, f.mock, "/latest/meta-data/events/recommendations/rebalance", 2*noticeDelay*time.Second)
	f.handover(t, noticeAt, "rebalance recommendation")
	if !strings.Contains(f.scheds[0].stderr.String(), `"reason":"rebalance recommendation`) {
		t.Error("the drain's reason is not the rebalance recommendation")
	}
}

func TestDrainOnAutoScalingTerminated(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	f := startDrainFleet(t, "asglifecycle", "--asg-termination-delay-sec", fmt.Sprint(noticeDelay))
	if !waitFor(15*time.Second, func() bool { return len(ticksOf(f.ran(t), f.ids[0])) >= 1 }) {
		t.Fatal("the oldest instance ran nothing within 15s")
	}
	f.ec2.ResetCalls()
	tok, err := f.mock.Token()
	if err != nil {
		t.Fatal(err)
	}
	// The path answers InService first, then Terminated: wait for the change.
	var noticeAt time.Time
	if !waitFor(2*noticeDelay*time.Second, func() bool {
		if recordTime(f.scheds[0], msgDrained).IsZero() {
			return false
		}
		noticeAt = f.mock.Started.Add(noticeDelay * time.Second)
		return true
	}) {
		code, _ := f.mock.Get(tok, "/latest/meta-data/autoscaling/target-lifecycle-state")
		t.Fatalf("no drain within %ds of the mock's start (target-lifecycle-state answers %d)", 2*noticeDelay, code)
	}
	f.handover(t, noticeAt, "auto scaling Terminated")
}

// SIGTERM (systemd stopping the service, a deploy restarting it) drains at
// once; a restart on the same instance removes the drain, and the oldest
// leads again.
func TestDrainOnSIGTERMAndUndrainAtRestart(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	f := startDrainFleet(t)
	if !waitFor(15*time.Second, func() bool { return len(ticksOf(f.ran(t), f.ids[0])) >= 1 }) {
		t.Fatal("the oldest instance ran nothing within 15s")
	}
	f.ec2.ResetCalls()
	sigterm := time.Now()
	if err := f.scheds[0].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	f.handover(t, sigterm, "SIGTERM")
	select {
	case <-f.scheds[0].done:
	case <-time.After(schedGrace + stopMargin):
		t.Fatal("the SIGTERMed scheduler did not exit")
	}
	// The restart: same instance, same state dir.
	f.ec2.ResetCalls()
	restart := time.Now()
	f.scheds[0] = f.start(t, f.nodes[0])
	if !waitFor(10*time.Second, func() bool { return !recordTime(f.scheds[0], msgUndrainStart).IsZero() }) {
		t.Fatal("the restarted scheduler did not remove its drain")
	}
	if _, has := f.ec2.Tags(f.ids[0])[elect.DrainingTag]; has {
		t.Error("the draining tag is still there after the restart")
	}
	var back ranLine
	if !waitFor(10*time.Second, func() bool {
		for _, l := range f.ran(t) {
			if l.id == f.ids[0] && l.ranAt.After(restart) {
				back = l
				return true
			}
		}
		return false
	}) {
		t.Fatal("the oldest instance did not lead again within 10s of its restart")
	}
	t.Logf("restart: the oldest leads again %.2fs after its restart, with %d DeleteTags on itself", back.ranAt.Sub(restart).Seconds(), createTagsOn(f.ec2, "DeleteTags", f.ids[0]))
}

// A scheduler tried by hand next to the instance's service must not take
// leadership away from it: a second scheduler on the instance runs without
// lifecycle powers and says so, and its SIGTERM drains nothing; a Ctrl-C
// (SIGINT) never drains, even the service's own scheduler.
func TestSecondSchedulerAndCtrlCNeverDrain(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	f := startDrainFleet(t)
	if !waitFor(15*time.Second, func() bool { return len(ticksOf(f.ran(t), f.ids[0])) >= 1 }) {
		t.Fatal("the oldest instance ran nothing within 15s")
	}
	const msgNoPowers = "another scheduler on this instance owns its lifecycle: this one runs without lifecycle powers (it never drains or protects this instance)"
	second := f.start(t, f.nodes[0])
	if !waitFor(10*time.Second, func() bool { return strings.Contains(second.stderr.String(), msgNoPowers) }) {
		t.Fatalf("the second scheduler on the instance did not say it runs without lifecycle powers:\n%s", second.stderr.String())
	}
	stopAndWait := func(s *scheduler, sig syscall.Signal) {
		t.Helper()
		if err := s.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s.done:
		case <-time.After(schedGrace + stopMargin):
			t.Fatalf("the scheduler did not exit on %v", sig)
		}
	}
	stopAndWait(second, syscall.SIGTERM)
	if !recordTime(second, msgDrained).IsZero() {
		t.Error("the second scheduler drained the instance when it stopped")
	}
	if _, has := f.ec2.Tags(f.ids[0])[elect.DrainingTag]; has {
		t.Fatal("the second scheduler's SIGTERM left the instance draining")
	}
	stopAndWait(f.scheds[0], syscall.SIGINT)
	if !recordTime(f.scheds[0], msgDrained).IsZero() {
		t.Error("Ctrl-C (SIGINT) drained the instance")
	}
	if _, has := f.ec2.Tags(f.ids[0])[elect.DrainingTag]; has {
		t.Error("Ctrl-C (SIGINT) left the instance draining")
	}
	if !strings.Contains(f.scheds[0].stderr.String(), `"msg":"stopping without draining: leadership stays with this instance's service","reason":"SIGINT"`) {
		t.Errorf("the scheduler did not say it stopped on SIGINT without draining:\n%s", f.scheds[0].stderr.String())
	}
}
