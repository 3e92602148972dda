package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// buildMetricsBinary builds leadergate for this machine as make dist builds
// leadergate-metrics-linux-* (static, -tags metrics -gcflags=all=-l): the
// test binary that stands in for leadergate elsewhere has no metrics. About 7 s with a warm build
// cache; -short skips it.
func buildMetricsBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the metrics binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "leadergate")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "metrics", "-gcflags", "all=-l", "-o", bin, "../..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags metrics: %v\n%s", err, out)
	}
	t.Logf("built the metrics binary (%s/%s, -tags metrics) in %s", runtime.GOOS, runtime.GOARCH, time.Since(start).Round(time.Millisecond))
	return bin
}

// request is one request a ping server received.
type request struct {
	method, path, rid, body string
}

// pingServer records every request; with hang set it never answers one
// until release is called (or the client gives up); its /broken paths
// answer 500.
type pingServer struct {
	*httptest.Server
	mu       sync.Mutex
	got      []request
	release  chan struct{}
	released sync.Once
}

func newPingServer(t *testing.T, hang bool) *pingServer {
	s := &pingServer{release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, request{r.Method, r.URL.Path, r.URL.Query().Get("rid"), string(b)})
		s.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/broken") {
			w.WriteHeader(http.StatusInternalServerError)
		}
		if hang {
			select {
			case <-s.release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(func() {
		s.unhang()
		s.Close()
	})
	return s
}

// lines returns every request so far as "METHOD PATH BODY", in order of
// arrival.
func (s *pingServer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.got))
	for _, r := range s.got {
		out = append(out, r.method+" "+r.path+" "+r.body)
	}
	return out
}

// reset forgets the requests so far.
func (s *pingServer) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = nil
}

// unhang answers the requests held and those to come.
func (s *pingServer) unhang() { s.released.Do(func() { close(s.release) }) }

// requests returns the requests to path so far, in order of arrival.
func (s *pingServer) requests(path string) []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []request
	for _, r := range s.got {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// rids returns the distinct rids of the requests to path (a retried ping
// comes again with the same rid).
func (s *pingServer) rids(path string) []string {
	var out []string
	for _, r := range s.requests(path) {
		if !slices.Contains(out, r.rid) {
			out = append(out, r.rid)
		}
	}
	return out
}

// scrapeMetrics gets base/metrics and parses it with Prometheus' own text
// parser.
func scrapeMetrics(t *testing.T, base string) (map[string]*dto.MetricFamily, error) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// series returns the value of the counter or gauge name with exactly the
// labels given (name=value pairs), and whether it exists.
func series(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		if !maps.Equal(got, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// TestScheduleBinaryPingsFailureHookAndMetrics runs the metrics binary's
// scheduler with three every-second jobs against ping servers on
// 127.0.0.1: "good" succeeds, "bad" fails with exit 3 and has an
// # on-failure: hook, "slow" pings a server that never answers. It checks
// what an operator relies on:
//   - good pings URL/start then URL, paired by rid, once per run;
//   - bad pings URL/start then POSTs its output's tail to URL/3, paired by
//     rid, and its hook runs once per run with LEADERGATE_JOB,
//     LEADERGATE_EXIT_CODE and the run's id and tick;
//   - slow runs at every tick, one after the other, while each of its pings
//     hangs: a ping never delays or skips a run;
//   - /metrics, parsed with Prometheus' parser, counts exactly the runs
//     each job made, by result, once a reload has stopped new ones (the
//     counters survive it), and /healthz answers 200.
func TestScheduleBinaryPingsFailureHookAndMetrics(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	bin := buildMetricsBinary(t)
	// The metrics build is the daemon's: the operator's picture and
	// simulator stay in the default build, and it says so.
	for _, args := range [][]string{{"simulate"}, {"history", "--ledger", "lg-ledger", "--group", "g", "--region", "us-east-1", "--html", "-"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 64 || !strings.Contains(string(out), "run it with the default build (leadergate-linux-*") {
			t.Errorf("metrics build %v: %v, %s; want exit 64 naming the default build", args, err, out)
		}
	}
	dir := t.TempDir()
	hooks := filepath.Join(dir, "hooks")
	if err := os.Mkdir(hooks, 0o700); err != nil {
		t.Fatal(err)
	}
	pings := newPingServer(t, false)
	hang := newPingServer(t, true)
	logOf := func(job string) string { return filepath.Join(dir, job+".log") }
	crontab := func(schedule string) string {
		return fmt.Sprintf(`# name: good
# ping: %[1]s/good
%[3]s echo "$LEADERGATE_RUN_ID $LEADERGATE_SCHEDULED_AT" >> '%[4]s'
# name: bad
# ping: %[1]s/bad
# on-failure: env | grep -E '^LEADERGATE_(JOB|EXIT_CODE|RUN_ID|SCHEDULED_AT)=' | sort > '%[6]s/.'$LEADERGATE_RUN_ID && mv '%[6]s/.'$LEADERGATE_RUN_ID '%[6]s/'$LEADERGATE_RUN_ID
%[3]s echo "$LEADERGATE_RUN_ID $LEADERGATE_SCHEDULED_AT" >> '%[5]s'; echo "bad output $LEADERGATE_RUN_ID"; exit 3
# name: slow
# ping: %[2]s/slow
%[3]s echo "$LEADERGATE_RUN_ID $LEADERGATE_SCHEDULED_AT" >> '%[7]s'
`, pings.URL, hang.URL, schedule, logOf("good"), logOf("bad"), hooks, logOf("slow"))
	}
	tab := writeCrontab(t, dir, "jobs.cron", crontab("* * * * * *"))
	s := startBinary(t, bin, dir, "--assume", "leader", "schedule", "--log-format", "json", "--grace", cliGrace.String(),
		"--metrics-addr", "127.0.0.1:0", tab)

	var addr string
	if !waitFor(cliWait, func() bool {
		if rs := s.find("serving metrics", ""); len(rs) > 0 {
			addr = rs[0].str("addr")
		}
		return addr != ""
	}) {
		t.Fatalf("no %q record with the metrics' address within %s", "serving metrics", cliWait)
	}

	// Three runs of each, and three pings of slow hanging at once.
	const runs = 3
	if !waitFor(cliWait, func() bool {
		return len(completeLines(t, logOf("good"))) >= runs && len(completeLines(t, logOf("bad"))) >= runs &&
			len(completeLines(t, logOf("slow"))) >= runs && len(hang.rids("/slow/start")) >= runs
	}) {
		t.Fatalf("within %s: good ran %d times, bad %d, slow %d with %d pings hanging; want %d each",
			cliWait, len(completeLines(t, logOf("good"))), len(completeLines(t, logOf("bad"))),
			len(completeLines(t, logOf("slow"))), len(hang.rids("/slow/start")), runs)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while the scheduler runs: %d, want 200", resp.StatusCode)
	}

	// Stop new runs (the jobs now run on 1 January only), then wait for
	// the runs in flight to end: from then on every count is final.
	writeCrontab(t, dir, "jobs.cron", crontab("0 0 1 1 *"))
	s.signal(t, syscall.SIGHUP)
	if !waitFor(cliWait, func() bool { return len(s.find(msgReloaded, "")) == 1 }) {
		t.Fatalf("no %q within %s", msgReloaded, cliWait)
	}
	ended := map[string]int{}
	if !waitFor(cliWait, func() bool {
		for _, job := range []string{"good", "bad", "slow"} {
			ended[job] = len(s.find(msgFinished, job)) + len(s.find("job failed", job))
			if ended[job] != len(s.find(msgStarted, job)) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("runs still going %s after the reload: ended %v", cliWait, ended)
	}
	for _, job := range []string{"good", "bad", "slow"} {
		if n := len(completeLines(t, logOf(job))); n != ended[job] {
			t.Errorf("%s wrote %d lines for %d runs", job, n, ended[job])
		}
	}
	if len(s.find("job failed", "good"))+len(s.find(msgFinished, "bad"))+len(s.find("job failed", "slow")) != 0 {
		t.Fatalf("good or slow failed, or bad succeeded:\n%s", s.stderr.String())
	}

	// slow ran at the very ticks good ran at (the loop fires both at each
	// tick; a loaded machine that skips a tick skips it for both), once
	// each, its pings hanging all along.
	ticksOf := func(job string) []string {
		var ticks []string
		for _, l := range completeLines(t, logOf(job)) {
			_, at, _ := strings.Cut(l, " ")
			ticks = append(ticks, at)
		}
		slices.Sort(ticks)
		return ticks
	}
	if slow, good := ticksOf("slow"), ticksOf("good"); !slices.Equal(slow, good) || len(slices.Compact(slices.Clone(slow))) != len(slow) {
		t.Errorf("slow, whose pings hang, ran at %q; good ran at %q: want the same ticks, once each", slow, good)
	}
	if skipped := s.find(msgOverlap, "slow"); len(skipped) != 0 {
		t.Errorf("slow was skipped %d times as still running: its hanging pings held a run", len(skipped))
	}

	// The counters reach the final counts, and stay there.
	want := map[string]string{"good": "succeeded", "bad": "failed", "slow": "succeeded"}
	var fams map[string]*dto.MetricFamily
	if !waitFor(cliWait, func() bool {
		fams, err = scrapeMetrics(t, "http://"+addr)
		if err != nil {
			t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
		}
		for job, result := range want {
			if v, _ := series(fams, "leadergate_job_runs_total", "job", job, "result", result); v != float64(ended[job]) {
				return false
			}
		}
		return true
	}) {
		for job, result := range want {
			v, _ := series(fams, "leadergate_job_runs_total", "job", job, "result", result)
			t.Errorf("leadergate_job_runs_total{job=%q,result=%q} = %v, want %d (its runs)", job, result, v, ended[job])
		}
	}
	for job, result := range want {
		for _, other := range []string{"succeeded", "failed", "timed_out", "stopped", "not_started"} {
			if v, ok := series(fams, "leadergate_job_runs_total", "job", job, "result", other); other != result && ok {
				t.Errorf("leadergate_job_runs_total{job=%q,result=%q} = %v, want no such series", job, other, v)
			}
		}
		if v, ok := series(fams, "leadergate_job_running", "job", job); !ok || v != 0 {
			t.Errorf("leadergate_job_running{job=%q} = %v (%v), want 0", job, v, ok)
		}
	}
	if _, ok := series(fams, "leadergate_job_last_success_timestamp_seconds", "job", "bad"); ok {
		t.Error("bad never succeeded but has a last success time")
	}
	if v, _ := series(fams, "leadergate_leader"); v != 1 {
		t.Errorf("leadergate_leader = %v, want 1 (--assume leader)", v)
	}

	// Pings: every run of good pinged /start then success with one rid;
	// every run of bad /start then POSTed its output to /3.
	if !waitFor(cliWait, func() bool {
		return len(pings.rids("/good")) == ended["good"] && len(pings.rids("/bad/3")) == ended["bad"]
	}) {
		t.Errorf("pings within %s: %d success pings for %d runs of good, %d failure pings for %d runs of bad",
			cliWait, len(pings.rids("/good")), ended["good"], len(pings.rids("/bad/3")), ended["bad"])
	}
	for _, job := range []string{"good", "bad"} {
		end := "/" + job
		if job == "bad" {
			end = "/bad/3"
		}
		starts := pings.rids("/" + job + "/start")
		if len(starts) != ended[job] {
			t.Errorf("%d start pings of %s for %d runs", len(starts), job, ended[job])
		}
		for _, r := range pings.requests(end) {
			if !slices.Contains(starts, r.rid) || r.rid == "" {
				t.Errorf("%s %s has rid %q, which no start ping of %s had", r.method, end, r.rid, job)
			}
		}
		for _, r := range pings.requests("/" + job + "/start") {
			if r.method != http.MethodGet || r.body != "" {
				t.Errorf("start ping %s %q, want a GET without a body", r.method, r.body)
			}
		}
	}
	for _, r := range pings.requests("/good") {
		if r.method != http.MethodGet || r.body != "" {
			t.Errorf("success ping %s %q, want a GET without a body", r.method, r.body)
		}
	}
	var bodies []string
	for _, r := range pings.requests("/bad/3") {
		if r.method != http.MethodPost {
			t.Errorf("failure ping %s, want POST", r.method)
		}
		bodies = append(bodies, r.body)
	}
	if n := len(pings.requests("/bad")) + len(pings.requests("/bad/fail")); n != 0 {
		t.Errorf("%d success or /fail pings of bad, which exited 3", n)
	}

	// The hook: once per failed run, with its report.
	for _, l := range completeLines(t, logOf("bad")) {
		id, at, _ := strings.Cut(l, " ")
		if !slices.Contains(bodies, "bad output "+id+"\n") {
			t.Errorf("no failure ping with run %s's output tail as body; bodies: %q", id, bodies)
		}
		var env []byte
		if !waitFor(cliWait, func() bool {
			env, err = os.ReadFile(filepath.Join(hooks, id))
			return err == nil
		}) {
			t.Errorf("the # on-failure: hook did not run for run %s within %s", id, cliWait)
			continue
		}
		wantEnv := "LEADERGATE_EXIT_CODE=3\nLEADERGATE_JOB=bad\nLEADERGATE_RUN_ID=" + id + "\nLEADERGATE_SCHEDULED_AT=" + at + "\n"
		if string(env) != wantEnv {
			t.Errorf("hook environment for run %s:\n%s\nwant\n%s", id, env, wantEnv)
		}
	}
	if entries, _ := os.ReadDir(hooks); len(entries) != ended["bad"] {
		t.Errorf("%d hook reports for %d failed runs", len(entries), ended["bad"])
	}

	// The hanging server lets go, so the pings still going end now; the
	// scheduler then stops as usual.
	hang.unhang()
	s.stop(t)
	t.Logf("good %d, bad %d, slow %d runs; %d pings of slow hung", ended["good"], ended["bad"], ended["slow"], len(hang.rids("/slow/start")))
}
