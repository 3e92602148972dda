package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
)

// The ledger's protocol holes (issue 22), each through the binary against
// moto_server, with several instances where it matters.

// TestLedgerClaimWhoseAnswerIsLostRunsOnce: the leader's claim is applied
// but its answer is lost (the proxy closes the connection after moto wrote
// the item). Before, the retry was refused by the claim's own record and
// nobody ran the tick (0 runs); now the retry recognises its own write and
// the tick runs once.
func TestLedgerClaimWhoseAnswerIsLostRunsOnce(t *testing.T) {
	t.Parallel()
	nodes, _, ddb, _, _ := ledgerNodes(t, 3)
	log := filepath.Join(t.TempDir(), "ran.log")
	tick := time.Now().Truncate(time.Second).Add(2 * time.Second)
	ddb.Inject(awsfake.Fault{Kind: awsfake.DropAnswer, Action: "PutItem", Count: 1})
	codes := everyone(nodes, "run", "--max-age", "0s", "--timeout", "4s", "--takeover-after", "1s",
		"--job", "billing", "--tick", tick.Format(time.RFC3339), "--", "sh", "-c", `echo "$ID $LEADERGATE_FENCE" >> `+log)
	lines := completeLines(t, log)
	t.Logf("a claim whose answer was lost: %d run(s) of the tick: %q", len(lines), lines)
	if len(lines) != 1 {
		t.Errorf("the tick ran %d times (%q), want once", len(lines), lines)
	}
	for id, c := range codes {
		if c != 0 {
			t.Errorf("%s exited %d", id, c)
		}
	}
}

// run is one run of a job as it logged its start and end.
type run struct {
	id, tick   string
	start, end float64
}

// runsOfLog reads "s|e ID TICK SECONDS" lines into runs.
func runsOfLog(t *testing.T, path string) []run {
	t.Helper()
	byKey := map[string]*run{}
	var order []string
	for _, l := range completeLines(t, path) {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("malformed line %q", l)
		}
		secs, _ := strconv.ParseFloat(f[3], 64)
		k := f[1] + " " + f[2]
		r := byKey[k]
		if r == nil {
			r = &run{id: f[1], tick: f[2]}
			byKey[k] = r
			order = append(order, k)
		}
		if f[0] == "s" {
			r.start = secs
		} else {
			r.end = secs
		}
	}
	var out []run
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

// overlap is how long two or more of the runs ran at once, in seconds.
func overlap(runs []run) float64 {
	type edge struct {
		at float64
		d  int
	}
	var es []edge
	for _, r := range runs {
		if r.end == 0 {
			continue
		}
		es = append(es, edge{r.start, 1}, edge{r.end, -1})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].at < es[j].at || es[i].at == es[j].at && es[i].d < es[j].d })
	var total, since float64
	n := 0
	for _, e := range es {
		if n >= 2 {
			total += e.at - since
		}
		n += e.d
		since = e.at
	}
	return total
}

// TestLedgerOverlapIsFleetWide: a job longer than its period (every 2 s,
// runs 3 s) on three schedulers. The instance whose turn a tick is skips it
// while its previous run still runs, and now records it skipped, so no
// follower takes it over beside that run. Before, a follower took every
// such tick over after the takeover delay: two runs at once, about a
// second in every two.
func TestLedgerOverlapIsFleetWide(t *testing.T) {
	t.Parallel()
	nodes, _, _, _, _ := ledgerNodes(t, 3)
	work := t.TempDir()
	log := filepath.Join(work, "runs.log")
	crontab := filepath.Join(work, "leader-jobs.cron")
	line := `echo "s $ID $LEADERGATE_SCHEDULED_AT $(date +%%s.%%N)" >> '%[1]s'; sleep 3; echo "e $ID $LEADERGATE_SCHEDULED_AT $(date +%%s.%%N)" >> '%[1]s'`
	if err := os.WriteFile(crontab, []byte("# name: long\n*/2 * * * * * "+fmt.Sprintf(line, log)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var scheds []*scheduler
	for _, n := range nodes {
		scheds = append(scheds, startScheduler(t, n, "schedule", "--max-age", "0s", "--refresh", "2s", "--log-format", "json",
			"--grace", "1s", "--takeover-after", "1s", "--lease", "4s", crontab))
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("runs.log:\n%s", b)
			for _, s := range scheds {
				t.Logf("stderr of %s:\n%s", s.id, s.stderr.String())
			}
		}
	})
	if !waitFor(60*time.Second, func() bool {
		ended := 0
		for _, r := range runsOfLog(t, log) {
			if r.end != 0 {
				ended++
			}
		}
		return ended >= 4
	}) {
		t.Fatalf("fewer than 4 runs ended within 60s: %+v", runsOfLog(t, log))
	}
	for _, s := range scheds {
		s.stopWithin(t, 15*time.Second)
	}
	runs := runsOfLog(t, log)
	ticks := map[string]int{}
	for _, r := range runs {
		ticks[r.tick]++
	}
	over := overlap(runs)
	skipped := 0
	for _, s := range scheds {
		skipped += s.countSince(time.Time{}, "job skipped: its previous run is still running")
	}
	t.Logf("%d runs, %d ticks skipped while the previous run ran, %.1f s of two runs at once", len(runs), skipped, over)
	if over > 0 {
		t.Errorf("two runs of the job ran at once for %.2f s: %+v", over, runs)
	}
	for tick, n := range ticks {
		if n > 1 {
			t.Errorf("tick %s ran %d times", tick, n)
		}
	}
	if skipped == 0 {
		t.Error("no tick was skipped while the previous run ran: the test did not test the rule")
	}
}

// TestLedgerRunStoppedByADeployIsRerunByASchedulerThatStartsLater: a
// deploy's SIGTERM stops the only scheduler mid-run of a "# on-lost:
// rerun" job; a scheduler that starts afterwards on another instance, which
// never saw the tick, reruns it (fence 2). Before, the stopped run was
// recorded failed (exit 143) and nobody reran it.
func TestLedgerRunStoppedByADeployIsRerunByASchedulerThatStartsLater(t *testing.T) {
	t.Parallel()
	nodes, _, _, _, _ := ledgerNodes(t, 2)
	work := t.TempDir()
	log := filepath.Join(work, "ran.log")
	crontab := filepath.Join(work, "leader-jobs.cron")
	body := fmt.Sprintf("# name: import\n# on-lost: rerun\n*/2 * * * * * echo \"$ID $LEADERGATE_SCHEDULED_AT $LEADERGATE_FENCE\" >> '%s'; sleep 30\n", log)
	if err := os.WriteFile(crontab, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"schedule", "--max-age", "0s", "--refresh", "2s", "--log-format", "json",
		"--grace", "1s", "--takeover-after", "1s", "--lease", "3s", crontab}
	old := startScheduler(t, nodes[0], args...)
	var fresh *scheduler
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("ran.log:\n%s\nstderr of the old scheduler:\n%s", b, old.stderr.String())
			if fresh != nil {
				t.Logf("stderr of the new one:\n%s", fresh.stderr.String())
			}
		}
	})
	if !waitFor(30*time.Second, func() bool { return len(completeLines(t, log)) > 0 }) {
		t.Fatal("the job did not start within 30s")
	}
	first := strings.Fields(completeLines(t, log)[0])
	old.stopWithin(t, 15*time.Second) // the deploy's SIGTERM
	fresh = startScheduler(t, nodes[1], args...)
	rerun := func() []string {
		var out []string
		for _, l := range completeLines(t, log) {
			if f := strings.Fields(l); f[1] == first[1] && f[2] == "2" {
				out = append(out, l)
			}
		}
		return out
	}
	if !waitFor(30*time.Second, func() bool { return len(rerun()) > 0 }) {
		t.Fatalf("the run of %s stopped by the deploy was not rerun by the scheduler started after it", first[1])
	}
	got := rerun()
	if len(got) != 1 || !strings.HasPrefix(got[0], nodes[1].id+" ") {
		t.Errorf("reruns %q, want one on %s with fence 2", got, nodes[1].id)
	}
	all := completeLines(t, log)
	n := slices.IndexFunc(all, func(l string) bool { return l == got[0] })
	t.Logf("the stopped run of %s was rerun by the later scheduler (fence 2); %d lines before it", first[1], n)
}

// beats reads a job's heartbeat file: one unix time per line.
func beats(t *testing.T, path string) []float64 {
	t.Helper()
	var out []float64
	for _, l := range completeLines(t, path) {
		if v, err := strconv.ParseFloat(strings.TrimSpace(l), 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// TestLedgerAHolderCutOffFromDynamoDBIsGoneBeforeTheRerun: two schedulers,
// each with its own DynamoDB proxy; a "# on-lost: rerun" job that ignores
// SIGTERM (so only SIGKILL, --grace after it, stops it). Once it runs, its
// holder's renewals hang. The holder must have stopped it (SIGTERM at the
// lease's end minus --grace, SIGKILL at the lease's end) before the other
// scheduler reruns it, a second after the lease. Before, the holder sent
// SIGTERM only when the lease ended, SIGKILL a grace later: the rerun and
// the old run ran side by side for about the grace minus a second.
func TestLedgerAHolderCutOffFromDynamoDBIsGoneBeforeTheRerun(t *testing.T) {
	// Not parallel: its margin is the second between the old run's SIGKILL
	// and the rerun, which a starved machine could eat.
	nodes, _, ddb, _, _ := ledgerNodes(t, 2)
	proxies := map[string]*faultproxy.Proxy{}
	for _, n := range nodes {
		p := faultproxy.New(ddb.URL())
		t.Cleanup(p.Close)
		proxies[n.id] = p
		n.env = append(slices.DeleteFunc(n.env, func(kv string) bool { return strings.HasPrefix(kv, "AWS_ENDPOINT_URL_DYNAMODB=") }),
			"AWS_ENDPOINT_URL_DYNAMODB="+p.URL())
	}
	work := t.TempDir()
	crontab := filepath.Join(work, "leader-jobs.cron")
	// At most 25 s, so that no run outlives the test.
	job := fmt.Sprintf(`trap '' TERM; for i in $(seq 250); do date +%%s.%%N >> '%s'/beat-$ID-$LEADERGATE_FENCE; sleep 0.1; done`, work)
	if err := os.WriteFile(crontab, []byte("# name: import\n# on-lost: rerun\n*/30 * * * * * "+job+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lease, grace := 4*time.Second, 3*time.Second
	var scheds []*scheduler
	for _, n := range nodes {
		scheds = append(scheds, startScheduler(t, n, "schedule", "--max-age", "0s", "--refresh", "2s", "--log-format", "json", "--timeout", "2s",
			"--grace", grace.String(), "--takeover-after", "1s", "--lease", lease.String(), crontab))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range scheds {
				t.Logf("stderr of %s:\n%s", s.id, s.stderr.String())
			}
		}
	})
	var holder, other string
	if !waitFor(45*time.Second, func() bool {
		for _, n := range nodes {
			if len(beats(t, filepath.Join(work, "beat-"+n.id+"-1"))) > 0 {
				holder = n.id
				return true
			}
		}
		return false
	}) {
		t.Fatal("the job did not start within 45s")
	}
	for _, n := range nodes {
		if n.id != holder {
			other = n.id
		}
	}
	proxies[holder].Inject(awsfake.Fault{Kind: awsfake.Hang, Action: "UpdateItem"}) // its renewals get no answer
	rerunBeats := filepath.Join(work, "beat-"+other+"-2")
	if !waitFor(lease+20*time.Second, func() bool { return len(beats(t, rerunBeats)) > 0 }) {
		t.Fatalf("%s did not rerun the job after %s was cut off", other, holder)
	}
	// Let the old run's last beat land if it still runs.
	waitFor(grace+time.Second, func() bool { return false })
	old, rerun := beats(t, filepath.Join(work, "beat-"+holder+"-1")), beats(t, rerunBeats)
	over := max(0, old[len(old)-1]-rerun[0])
	t.Logf("holder cut off: the old run's last beat %.2f s after the rerun's first (%.2f s of two runs at once); lease %s, grace %s",
		old[len(old)-1]-rerun[0], over, lease, grace)
	if over > 0 {
		t.Errorf("the old run went on %.2f s beside the rerun", over)
	}
}

// TestLedgerTheEndIsRecordedThroughADynamoDBBlip: the finishing write
// meets three 500s in a row (every attempt the SDK makes of one call). The
// end is tried again within the lease and recorded: history says
// succeeded. Before, the three attempts within a tenth of a second were
// all there was: the run stayed "running", read lost once its lease ran
// out, and a "# on-lost: rerun" job ran again although it had completed.
func TestLedgerTheEndIsRecordedThroughADynamoDBBlip(t *testing.T) {
	t.Parallel()
	nodes, _, ddb, _, _ := ledgerNodes(t, 1)
	n := nodes[0]
	ddb.Inject(awsfake.Fault{Kind: awsfake.InternalError, Action: "UpdateItem", Count: 3})
	tick := time.Now().UTC().Truncate(time.Second)
	code, stderr := n.leadergate("run", "--max-age", "0s", "--lease", "5s", "--grace", "1s", "--job", "billing",
		"--tick", tick.Format(time.RFC3339), "--", "true")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	_, out := n.leadergateOut("history", "--job", "billing", "--json", "--since", "1h")
	t.Logf("after a blip of three 500s at the finish, history says: %s", strings.TrimSpace(out))
	if !strings.Contains(out, `"state":"succeeded"`) {
		t.Errorf("history %q, want the run succeeded", out)
	}
}

// TestLedgerTicksNotRunInAnOutageAreRecordedMissed: a scheduler that runs
// through a DynamoDB outage (every call answered 500) runs none of the
// outage's ticks, as it must; once DynamoDB answers again it records each
// of them missed, with why, and reports them: history has no hole where
// the outage was. Before, those ticks had no record at all, and the look
// for missed ticks at start never reaches ticks older than the newest run.
func TestLedgerTicksNotRunInAnOutageAreRecordedMissed(t *testing.T) {
	t.Parallel()
	nodes, _, ddb, _, _ := ledgerNodes(t, 1)
	n := nodes[0]
	work := t.TempDir()
	crontab := filepath.Join(work, "leader-jobs.cron")
	if err := os.WriteFile(crontab, []byte("# name: billing\n*/2 * * * * * true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startScheduler(t, n, "schedule", "--max-age", "0s", "--log-format", "json", "--timeout", "1s", crontab)
	if !waitFor(cliWait, func() bool { return s.logged("job finished") }) {
		t.Fatalf("no run before the outage:\n%s", s.stderr.String())
	}
	outage := time.Now()
	ddb.Inject(awsfake.Fault{Kind: awsfake.InternalError})
	notRun := []string{"job skipped: the ledger cannot be reached, nothing runs", "job skipped: the controls cannot be read (fail closed)"}
	if !waitFor(cliWait, func() bool { return s.countSince(outage, notRun...) >= 2 }) {
		t.Fatalf("the outage's ticks were not skipped:\n%s", s.stderr.String())
	}
	back := time.Now()
	ddb.ClearFaults()
	if !waitFor(cliWait, func() bool {
		return s.countSince(back, "job missed: not run at its tick, and recorded once the ledger answered") >= 2
	}) {
		t.Fatalf("the outage's ticks were not recorded once DynamoDB answered:\n%s", s.stderr.String())
	}
	_, out := n.leadergateOut("history", "--job", "billing", "--json", "--since", "1h")
	missed := 0
	for l := range strings.Lines(out) {
		var h historyLine
		if json.Unmarshal([]byte(l), &h) != nil || h.State != "missed" {
			continue
		}
		missed++
		if !strings.HasPrefix(h.Reason, "not run: the ") || !strings.Contains(h.Reason, "at its tick") {
			t.Errorf("a missed tick's reason is %q, want why it did not run", h.Reason)
		}
		if h.Tick.Before(outage.Truncate(time.Second)) || h.Tick.After(back) {
			t.Errorf("tick %s recorded missed, outside the outage (%s to %s)", h.Tick, outage, back)
		}
	}
	t.Logf("%d ticks of the outage recorded missed; history:\n%s", missed, out)
	if missed < 2 {
		t.Errorf("%d ticks recorded missed, want each tick of the outage (at least 2)", missed)
	}
}
