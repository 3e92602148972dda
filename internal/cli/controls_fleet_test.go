package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
)

// controlFleet is three schedulers of one group against moto (DynamoDB and
// STS), for the operators' controls.
type controlFleet struct {
	t         *testing.T
	ddb       *faultproxy.Proxy
	terminate func(ids ...string)
	nodes     []*node
	scheds    map[string]*scheduler
	args      []string
	work      string
	crontab   string
}

const motoActor = "arn:aws:sts::123456789012:user/moto"

func newControlFleet(t *testing.T, jobs string) *controlFleet {
	nodes, _, ddb, _, terminate := ledgerNodes(t, 3)
	for _, n := range nodes {
		n.env = append(n.env, "AWS_ENDPOINT_URL_STS="+ddb.URL()) // the caller's identity, from moto
	}
	f := &controlFleet{t: t, ddb: ddb, terminate: terminate, nodes: nodes, scheds: map[string]*scheduler{}, work: t.TempDir()}
	f.crontab = filepath.Join(f.work, "leader-jobs.cron")
	if err := os.WriteFile(f.crontab, []byte(strings.ReplaceAll(jobs, "WORK", f.work)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.args = []string{"schedule", "--max-age", "0s", "--refresh", "2s", "--log-format", "json",
		"--grace", "2s", "--takeover-after", "1s", "--lease", "3s", f.crontab}
	f.start()
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"ran.log", "hook.log", "slow.log", "yearly.log"} {
				b, _ := os.ReadFile(filepath.Join(f.work, name))
				t.Logf("%s:\n%s", name, b)
			}
			for id, s := range f.scheds {
				t.Logf("stderr of %s:\n%s", id, s.stderr.String())
			}
		}
	})
	return f
}

func (f *controlFleet) start() {
	for _, n := range f.nodes {
		f.scheds[n.id] = startScheduler(f.t, n, f.args...)
	}
}

func (f *controlFleet) stop() {
	for _, s := range f.scheds {
		s.stopWithin(f.t, 10*time.Second)
	}
}

// control runs an operator's command on a node still up; it must succeed.
func (f *controlFleet) control(args ...string) string {
	f.t.Helper()
	code, out := f.nodes[len(f.nodes)-1].leadergateOut(args...)
	if code != 0 {
		f.t.Fatalf("leadergate %s: exit %d: %s", strings.Join(args, " "), code, out)
	}
	return out
}

// history is the group's history as JSON lines.
func (f *controlFleet) history() []historyLine {
	f.t.Helper()
	var out []historyLine
	for l := range strings.Lines(f.control("history", "--json", "--since", "2h", "--limit", "1000")) {
		var h historyLine
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			f.t.Fatalf("history line %q: %v", l, err)
		}
		out = append(out, h)
	}
	return out
}

func (f *controlFleet) ran() []ranLine { return readRan(f.t, filepath.Join(f.work, "ran.log")) }

// errorsLogged counts the ERROR lines with msg across the schedulers.
func (f *controlFleet) logged(msg string) int {
	n := 0
	for _, s := range f.scheds {
		n += s.countSince(time.Time{}, msg)
	}
	return n
}

// TestControlsPauseResumeAndMissedTicksOnAFleet: three schedulers against
// moto. A pause stops the job on every instance from its next tick (each
// tick recorded skipped, once), a resume restarts it; with every scheduler
// stopped across ticks, each tick nobody ran is found on the next start,
// recorded missed and reported (ERROR line, failure hook) once, by one
// instance; the controls show in history with their actor.
func TestControlsPauseResumeAndMissedTicksOnAFleet(t *testing.T) {
	t.Parallel() // its own moto_server and schedulers: it overlaps the other fleet tests
	f := newControlFleet(t, "# name: tick\n"+
		"# on-failure: echo \"$ID $LEADERGATE_OUTCOME $LEADERGATE_SCHEDULED_AT\" >> WORK/hook.log\n"+
		"*/2 * * * * * echo \"$ID $LEADERGATE_SCHEDULED_AT $(date +%s.%N)\" >> WORK/ran.log\n")
	if !waitFor(30*time.Second, func() bool { return len(distinctTicks(f.ran())) >= 2 }) {
		t.Fatal("the fleet ran no 2 ticks within 30s")
	}

	// DynamoDB calls per tick with controls on, three instances.
	f.ddb.ResetCalls()
	n0 := len(f.ran())
	if !waitFor(30*time.Second, func() bool { return len(f.ran()) >= n0+5 }) {
		t.Fatal("the fleet ran no 5 more ticks within 30s")
	}
	var calls []string
	for _, op := range []string{"Query", "GetItem", "PutItem", "UpdateItem", "BatchGetItem"} {
		calls = append(calls, fmt.Sprintf("%s %.1f", op, float64(f.ddb.Calls(op))/float64(len(f.ran())-n0)))
	}
	t.Logf("DynamoDB calls per tick, 3 instances, controls on: %s", strings.Join(calls, ", "))

	// Pause: no tick at or after the pause runs anywhere; the ticks are
	// recorded skipped, paused, each once.
	before := time.Now()
	f.control("pause", "tick", "--reason", "fleet test")
	paused := time.Now()
	skipped := func() []historyLine {
		var out []historyLine
		for _, h := range f.history() {
			if h.Job == "tick" && h.State == "skipped" {
				out = append(out, h)
			}
		}
		return out
	}
	if !waitFor(30*time.Second, func() bool { return len(skipped()) >= 3 }) {
		t.Fatalf("no 3 ticks recorded skipped within 30s of the pause: %+v", f.history())
	}
	for _, l := range f.ran() {
		if !l.tick.Before(paused) {
			t.Errorf("%s ran the tick %s after the pause (given %s)", l.id, l.tick.Format(time.RFC3339), paused.Format(time.RFC3339Nano))
		}
	}
	first := time.Time{}
	for _, h := range skipped() {
		if !strings.Contains(h.Reason, "paused") || !strings.Contains(h.Reason, motoActor) || !strings.Contains(h.Reason, "fleet test") {
			t.Errorf("skipped tick %s says %q; want paused, by whom, why", h.Tick, h.Reason)
		}
		if h.Tick.Before(before) {
			t.Errorf("the tick %s before the pause was recorded skipped", h.Tick)
		}
		if first.IsZero() || h.Tick.Before(first) {
			first = h.Tick
		}
	}
	t.Logf("pause: given at %s, first tick skipped %s (%.1fs later)", paused.Format("15:04:05.000"), first.Format("15:04:05"), first.Sub(paused).Seconds())

	// Resume: the next tick runs.
	f.control("resume", "tick", "--reason", "fixed")
	resumed := time.Now()
	var back ranLine
	if !waitFor(30*time.Second, func() bool {
		for _, l := range f.ran() {
			if !l.tick.Before(resumed) {
				back = l
				return true
			}
		}
		return false
	}) {
		t.Fatal("no tick ran within 30s of the resume")
	}
	t.Logf("resume: given at %s, first tick run %s on %s (%.1fs later)", resumed.Format("15:04:05.000"), back.tick.Format("15:04:05"), back.id, back.ranAt.Sub(resumed).Seconds())

	// Every scheduler stopped across ticks: the next start finds them.
	f.stop()
	stopped := time.Now()
	if !waitFor(30*time.Second, func() bool { return time.Since(stopped) > 5*time.Second }) {
		t.Fatal("unreachable")
	}
	f.start()
	restarted := time.Now()
	missed := func() map[time.Time]string {
		m := map[time.Time]string{}
		for _, h := range f.history() {
			if h.Job == "tick" && h.State == "missed" {
				m[h.Tick] = h.Instance
			}
		}
		return m
	}
	if !waitFor(40*time.Second, func() bool {
		return len(missed()) >= 2 && f.logged("job missed: no instance ran it and none recorded why (every scheduler was down across it)") >= len(missed())
	}) {
		t.Fatalf("no 2 ticks recorded missed and reported within 40s of the restart: %v", missed())
	}
	m := missed()
	// Down from the stop until the last scheduler's loop began (after it
	// loaded the schedule, elected, looked for catch-ups).
	up := restarted
	for _, s := range f.scheds {
		if at := s.firstLogged("schedule loaded"); at.After(up) {
			up = at
		}
	}
	for tick := range m {
		if !tick.After(stopped.Add(-2*time.Second)) || tick.After(up.Add(time.Second)) {
			t.Errorf("tick %s recorded missed; the fleet was down from %s to %s", tick.Format(time.RFC3339), stopped.Format(time.RFC3339), up.Format(time.RFC3339Nano))
		}
	}
	// Reported once each, by the instance that recorded it.
	if !waitFor(20*time.Second, func() bool { return len(completeLines(t, filepath.Join(f.work, "hook.log"))) >= len(m) }) {
		t.Fatalf("the failure hook ran for %d of %d missed ticks", len(completeLines(t, filepath.Join(f.work, "hook.log"))), len(m))
	}
	reported := map[time.Time]int{}
	for _, l := range completeLines(t, filepath.Join(f.work, "hook.log")) {
		fs := strings.Fields(l)
		if len(fs) != 3 || fs[1] != "missed" {
			t.Errorf("failure hook line %q; want a missed tick", l)
			continue
		}
		tick, _ := time.Parse(time.RFC3339, fs[2])
		reported[tick.UTC()]++
		if m[tick.UTC()] != fs[0] {
			t.Errorf("tick %s reported by %s, recorded missed by %s", fs[2], fs[0], m[tick.UTC()])
		}
	}
	for tick := range m {
		if reported[tick] != 1 {
			t.Errorf("missed tick %s reported %d times; want once", tick.Format(time.RFC3339), reported[tick])
		}
	}
	if n := f.logged("job missed: no instance ran it and none recorded why (every scheduler was down across it)"); n != len(m) {
		t.Errorf("%d ERROR lines for %d missed ticks", n, len(m))
	}

	// Every control in history, with its actor.
	var actions []string
	for _, h := range f.history() {
		if h.State == "control" {
			if h.Actor != motoActor {
				t.Errorf("control %+v has actor %q, want %q", h, h.Actor, motoActor)
			}
			actions = append(actions, h.Action)
		}
	}
	if !slices.Equal(actions, []string{"resume", "pause"}) {
		t.Errorf("controls in history = %v; want resume, pause (newest first)", actions)
	}
}

// firstLogged is the time of the scheduler's first log record with msg.
func (s *scheduler) firstLogged(msg string) time.Time {
	for l := range strings.Lines(s.stderr.String()) {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == msg {
			return rec.Time
		}
	}
	return time.Time{}
}

// TestControlsTriggerAndBackfillOnAFleet: three schedulers against moto. A
// trigger runs once, on the leader, and --wait exits with its code; a
// trigger whose instance is killed mid-run runs exactly once (recorded
// lost by another instance, not rerun); a backfill of five ticks that
// never ran runs five, one each, oldest first, one at a time, and a second
// backfill runs none.
func TestControlsTriggerAndBackfillOnAFleet(t *testing.T) {
	t.Parallel() // its own moto_server and schedulers: it overlaps the other fleet tests
	f := newControlFleet(t, "# name: tick\n*/2 * * * * * echo \"$ID $LEADERGATE_SCHEDULED_AT $(date +%s.%N)\" >> WORK/ran.log\n"+
		"# name: three\n0 0 0 1 1 * exit 3\n"+
		"# name: slow\n0 0 0 1 1 * echo \"$ID $LEADERGATE_SCHEDULED_AT start\" >> WORK/slow.log; sleep 30; echo \"$ID $LEADERGATE_SCHEDULED_AT end\" >> WORK/slow.log\n"+
		"# name: yearly\n0 0 0 1 1 * echo \"$ID $LEADERGATE_SCHEDULED_AT start $(date +%s.%N)\" >> WORK/yearly.log; sleep 1; echo \"$ID $LEADERGATE_SCHEDULED_AT end $(date +%s.%N)\" >> WORK/yearly.log\n")
	leader := settledLeader(t, f.scheds, 20*time.Second)
	if !waitFor(30*time.Second, func() bool { return len(distinctTicks(f.ran())) >= 2 }) {
		t.Fatal("the fleet ran no 2 ticks within 30s")
	}

	// trigger --wait: on the leader, exit code passed through.
	asked := time.Now()
	code, out := f.nodes[2].leadergateOut("trigger", "three", "--wait", "--reason", "fleet test")
	took := time.Since(asked)
	if code != 3 || !strings.Contains(out, "on "+leader+" (run id e-main#three@") || !strings.Contains(out, "failed on "+leader+", exit code 3") {
		t.Errorf("trigger --wait: exit %d, stdout %q; want 3, run on the leader %s", code, out, leader)
	}
	t.Logf("trigger --wait: ran on %s, returned %.1fs after the command", leader, took.Seconds())

	// A trigger whose instance dies mid-run: once, recorded lost, not rerun.
	f.control("trigger", "slow")
	slow := filepath.Join(f.work, "slow.log")
	var ranOn string
	if !waitFor(30*time.Second, func() bool {
		for _, l := range completeLines(t, slow) {
			ranOn = strings.Fields(l)[0]
			return true
		}
		return false
	}) {
		t.Fatal("the triggered slow job did not start within 30s")
	}
	s := f.scheds[ranOn]
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	f.terminate(ranOn)
	f.nodes = slices.DeleteFunc(f.nodes, func(n *node) bool { return n.id == ranOn })
	delete(f.scheds, ranOn)
	lostAt := func() (h historyLine, ok bool) {
		for _, h := range f.history() {
			if h.Job == "slow" && strings.HasPrefix(h.Ref, "trigger#") && h.State == "lost" {
				return h, true
			}
		}
		return h, false
	}
	if !waitFor(40*time.Second, func() bool { _, ok := lostAt(); return ok }) {
		t.Fatalf("the trigger's run killed on %s was not recorded lost within 40s: %+v", ranOn, f.history())
	}
	// Two more batches of every remaining scheduler: nobody ran it again.
	n := len(f.ran())
	if !waitFor(20*time.Second, func() bool { return len(f.ran()) >= n+2 }) {
		t.Fatal("the fleet stopped running ticks after the kill")
	}
	if lines := completeLines(t, slow); len(lines) != 1 {
		t.Errorf("the triggered slow job wrote %q; want one start, on %s", lines, ranOn)
	}

	// Backfill five yearly ticks that never ran: five runs, oldest first,
	// one at a time; a second backfill none.
	now := time.Now().UTC()
	oldest := time.Date(now.Year()-4, 1, 1, 0, 0, 0, 0, time.UTC)
	since := now.Sub(oldest) + 24*time.Hour
	out = f.control("backfill", "yearly", "--since", since.String(), "--file", f.crontab, "--reason", "never ran")
	if strings.Count(out, "yearly@") != 5 {
		t.Fatalf("backfill listed %q; want 5 ticks", out)
	}
	yearly := filepath.Join(f.work, "yearly.log")
	ends := func() int { return strings.Count(strings.Join(completeLines(t, yearly), "\n"), " end ") }
	if !waitFor(60*time.Second, func() bool { return ends() >= 5 }) {
		t.Fatalf("the backfill ran %d of 5 ticks within 60s", ends())
	}
	type span struct {
		tick       string
		start, end float64
	}
	var runs []*span
	byTick := map[string]*span{}
	for _, l := range completeLines(t, yearly) {
		fs := strings.Fields(l)
		at, _ := strconv.ParseFloat(fs[3], 64)
		if fs[2] == "start" {
			byTick[fs[1]] = &span{tick: fs[1], start: at}
			runs = append(runs, byTick[fs[1]])
		} else if sp := byTick[fs[1]]; sp != nil {
			sp.end = at
		}
	}
	slices.SortFunc(runs, func(a, b *span) int { return cmp.Compare(a.start, b.start) })
	var ticks []string
	for i, sp := range runs {
		ticks = append(ticks, sp.tick)
		if i > 0 && sp.start < runs[i-1].end {
			t.Errorf("the backfill run of %s started before the run of %s ended: not one at a time", sp.tick, runs[i-1].tick)
		}
	}
	want := []string{}
	for y := oldest.Year(); y <= now.Year(); y++ {
		want = append(want, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339))
	}
	if !slices.Equal(ticks, want) {
		t.Errorf("backfill ran %v; want %v, each once, oldest first", ticks, want)
	}
	out = f.control("backfill", "yearly", "--since", since.String(), "--file", f.crontab)
	if !strings.Contains(out, "nothing to backfill") {
		t.Errorf("a second backfill said %q; want nothing to backfill", out)
	}

	var actions []string
	for _, h := range f.history() {
		if h.State == "control" && h.Actor == motoActor {
			actions = append(actions, h.Job+":"+h.Action)
		}
	}
	if want := []string{"yearly:backfill", "slow:trigger", "three:trigger"}; !slices.Equal(actions, want) {
		t.Errorf("controls in history = %v; want %v with the actor %s", actions, want, motoActor)
	}
}
