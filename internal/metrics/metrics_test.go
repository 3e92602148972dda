package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/schedule"
)

// events passes every finished run and leadership check to the test, so
// it waits on what happened rather than on time.
type events struct {
	schedule.NopHooks
	finished chan string
	checks   chan bool
}

func (e events) Finished(r schedule.RunInfo, res schedule.Result) {
	e.finished <- r.Job.Name + " " + res.Outcome
}
func (e events) Leadership(leader bool, err error) {
	select {
	case e.checks <- leader:
	default:
	}
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the metrics do not parse as Prometheus text: %v", err)
	}
	return fams
}

// value returns the value of the series of name whose labels include
// labels (name=value pairs), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func healthz(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsAfterKnownRuns runs every-second jobs, two that succeed or
// fail, scrapes /metrics, parses it with Prometheus' own parser and checks
// the values; then a SIGHUP reload drops one job: the counters of the
// other survive, the dropped job's gauges go. /healthz is 200 while the
// loop runs and 503 once it has returned.
func TestMetricsAfterKnownRuns(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "jobs.cron")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# name: good\n* * * * * * true\n# name: bad\n* * * * * * exit 3\n")

	m := New(time.Now, 5*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String()
	if got := healthz(t, url); got != http.StatusServiceUnavailable {
		t.Errorf("/healthz before the loop started: %d, want 503", got)
	}

	ev := events{finished: make(chan string, 100), checks: make(chan bool, 1)}
	reload := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	before := time.Now()
	go func() {
		done <- schedule.Run(ctx, schedule.Options{
			File: file, Authority: gate.Assume(true), Refresh: 50 * time.Millisecond,
			Hooks: schedule.MultiHooks{m, ev}, Heartbeat: time.Second, Reload: reload,
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	count := map[string]int{}
	for count["good succeeded"] < 2 || count["bad failed"] < 2 {
		select {
		case s := <-ev.finished:
			count[s]++
		case <-time.After(10 * time.Second):
			t.Fatalf("runs after 10s: %v", count)
		}
	}
	<-ev.checks
	// Finished is called for good's and bad's next runs concurrently with
	// the scrape: read the counters, then require at least what was seen.
	fams := scrape(t, url)
	if v, _ := value(fams, "leadergate_job_runs_total", "job", "good", "result", "succeeded"); v < 2 {
		t.Errorf("good succeeded %v times, want >= 2", v)
	}
	if v, ok := value(fams, "leadergate_job_runs_total", "job", "good", "result", "failed"); ok || v != 0 {
		t.Errorf("good has a failed series %v", v)
	}
	if v, _ := value(fams, "leadergate_job_runs_total", "job", "bad", "result", "failed"); v < 2 {
		t.Errorf("bad failed %v times, want >= 2", v)
	}
	if v, ok := value(fams, "leadergate_job_last_success_timestamp_seconds", "job", "bad"); ok {
		t.Errorf("bad never succeeded but has a last success %v", v)
	}
	last, _ := value(fams, "leadergate_job_last_success_timestamp_seconds", "job", "good")
	if last < float64(before.Unix()) || last > float64(time.Now().Unix()+1) {
		t.Errorf("good's last success %v is not between the test's start and now", last)
	}
	next, _ := value(fams, "leadergate_job_next_run_timestamp_seconds", "job", "good")
	if next < float64(before.Unix()) || next > float64(time.Now().Add(2*time.Second).Unix()) {
		t.Errorf("good's next run %v is not within a second or two of now", next)
	}
	if v, _ := value(fams, "leadergate_job_interval_seconds", "job", "good"); v != 1 {
		t.Errorf("good's interval %v, want 1 (every second)", v)
	}
	if v, _ := value(fams, "leadergate_job_duration_seconds", "job", "good"); v < 2 {
		t.Errorf("good's duration histogram has %v samples, want >= 2", v)
	}
	if v, _ := value(fams, "leadergate_leader"); v != 1 {
		t.Errorf("leadergate_leader %v, want 1", v)
	}
	if v, _ := value(fams, "leadergate_elections_total", "result", "leader"); v < 1 {
		t.Errorf("elections won %v, want >= 1", v)
	}
	for _, name := range []string{"leadergate_ticks_claimed_total", "leadergate_lost_runs_total", "leadergate_catchups_total", "leadergate_drains_total"} {
		if _, ok := value(fams, name); !ok {
			t.Errorf("%s is not served before its first event", name)
		}
	}
	if got := healthz(t, url); got != http.StatusOK {
		t.Errorf("/healthz while the loop runs: %d, want 200", got)
	}
	m.Claimed(schedule.Job{Name: "good"}, time.Now(), schedule.ClaimTakenOver)
	m.LostRun(schedule.RunInfo{Job: schedule.Job{Name: "good"}, Tick: time.Now()})
	if v, _ := value(scrape(t, url), "leadergate_ticks_claimed_total", "result", "taken_over"); v != 1 {
		t.Errorf("one takeover counted as %v", v)
	}

	// SIGHUP: bad is gone.
	goodRuns, _ := value(fams, "leadergate_job_runs_total", "job", "good", "result", "succeeded")
	write("# name: good\n* * * * * * true\n")
	reload <- os.Interrupt
	for after := 0; after < 2; {
		select {
		case s := <-ev.finished:
			if s == "good succeeded" {
				after++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("good did not run twice after the reload")
		}
	}
	fams = scrape(t, url)
	if v, _ := value(fams, "leadergate_job_runs_total", "job", "good", "result", "succeeded"); v < goodRuns+2 {
		t.Errorf("after SIGHUP good succeeded %v times, want >= %v: the counter was reset", v, goodRuns+2)
	}
	if v, ok := value(fams, "leadergate_job_next_run_timestamp_seconds", "job", "bad"); ok {
		t.Errorf("the removed job still has a next run %v", v)
	}
	if _, ok := value(fams, "leadergate_job_runs_total", "job", "bad", "result", "failed"); !ok {
		t.Error("the removed job's run counter is gone: counters survive a reload")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m.Stopped()
	if got := healthz(t, url); got != http.StatusServiceUnavailable {
		t.Errorf("/healthz after the loop returned: %d, want 503", got)
	}
	done <- nil // for the deferred receive
}

// TestHealthzGoesStaleWhenTheLoopIsSilent: a loop that stops going round
// (wedged) turns /healthz to 503 once stale has passed.
func TestHealthzGoesStaleWhenTheLoopIsSilent(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := New(func() time.Time { return now }, 10*time.Second)
	m.Alive()
	if got := m.Healthy(); got != "" {
		t.Errorf("just alive: %q", got)
	}
	now = now.Add(9 * time.Second)
	if got := m.Healthy(); got != "" {
		t.Errorf("9s after the last round, within 10s: %q", got)
	}
	now = now.Add(2 * time.Second)
	if got := m.Healthy(); !strings.Contains(got, "has not gone round for 11s") {
		t.Errorf("11s after the last round: %q, want a 503 reason naming 11s", got)
	}
}
