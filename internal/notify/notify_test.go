package notify

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/proctest"
	"github.com/leadergate/leadergate/schedule"
)

type request struct {
	Method, Path, RID, Body string
}

// recorder is a ping server on 127.0.0.1 that records every request; its
// /hang/ paths never answer and its /broken/ paths answer 500.
type recorder struct {
	*httptest.Server
	reqs    chan request
	release chan struct{}
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{reqs: make(chan request, 1000), release: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		b, _ := io.ReadAll(q.Body)
		r.reqs <- request{q.Method, q.URL.Path, q.URL.Query().Get("rid"), string(b)}
		switch {
		case strings.HasPrefix(q.URL.Path, "/hang/"):
			select {
			case <-r.release:
			case <-q.Context().Done():
			}
		case strings.HasPrefix(q.URL.Path, "/broken/"):
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(func() {
		close(r.release)
		r.Close()
	})
	return r
}

// timing records each run's duration and how long the hooks' Started and
// Finished took: the notifier's cost on the job's critical path.
type timing struct {
	schedule.NopHooks
	inner    schedule.Hooks
	mu       sync.Mutex
	longest  time.Duration
	finished chan schedule.Result
}

func (t *timing) Started(r schedule.RunInfo) {
	start := time.Now()
	t.inner.Started(r)
	t.note(time.Since(start))
}

func (t *timing) Finished(r schedule.RunInfo, res schedule.Result) {
	start := time.Now()
	t.inner.Finished(r, res)
	t.note(time.Since(start))
	select {
	case t.finished <- res:
	default: // the test stopped reading: never block the scheduler
	}
}

func (t *timing) Loaded(jobs []schedule.Job) { t.inner.Loaded(jobs) }

func (t *timing) note(d time.Duration) {
	t.mu.Lock()
	t.longest = max(t.longest, d)
	t.mu.Unlock()
}

func runScheduler(t *testing.T, crontab string, h schedule.Hooks) (stop func()) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "jobs.cron")
	if err := os.WriteFile(file, []byte(crontab), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- schedule.Run(ctx, schedule.Options{File: file, Authority: gate.Assume(true), Refresh: -1, Hooks: h})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitReq(t *testing.T, r *recorder, path string) request {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case q := <-r.reqs:
			if q.Path == path {
				return q
			}
		case <-deadline:
			t.Fatalf("no request to %s within 10s", path)
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestPingsFollowHealthchecksProtocol: a job that succeeds pings
// URL/start then URL with GET, a job that fails pings URL/start then POSTs
// its output's tail to URL/<exit code>; each start and end share a rid
// (a UUID, as healthchecks.io requires).
func TestPingsFollowHealthchecksProtocol(t *testing.T) {
	srv := newRecorder(t)
	n := New(Config{})
	runScheduler(t, "# name: good\n# ping: "+srv.URL+"/good\n* * * * * * echo fine\n"+
		"# name: bad\n# ping: "+srv.URL+"/bad/\n* * * * * * echo boom; echo err >&2; exit 3\n", n)

	// Pings go out in the background, but a run's end never before its
	// start: a monitor seeing /start last reads a run that never ended.
	starts := map[string]request{}
	var good, bad request
	deadline := time.After(30 * time.Second)
	for good.Path == "" || bad.Path == "" {
		var q request
		select {
		case q = <-srv.reqs:
		case <-deadline:
			t.Fatalf("no /good and /bad/3 ping within 30s (starts %v)", starts)
		}
		switch q.Path {
		case "/bad/start", "/good/start":
			starts[q.RID] = q
		case "/bad/3", "/good":
			if _, ok := starts[q.RID]; !ok {
				t.Fatalf("the end ping %s (rid %s) reached the server before its start", q.Path, q.RID)
			}
			if q.Path == "/good" {
				good = q
			} else {
				bad = q
			}
		}
	}
	start, end := starts[good.RID], good
	if start.Method != "GET" || end.Method != "GET" || end.Body != "" {
		t.Errorf("success pings %+v, %+v: want two GETs without a body", start, end)
	}
	if !uuidRE.MatchString(start.RID) {
		t.Errorf("rid %q is not a UUID", start.RID)
	}
	end = bad
	if end.Method != "POST" || !strings.Contains(end.Body, "boom\n") || !strings.Contains(end.Body, "err\n") {
		t.Errorf("failure ping %+v: want a POST of the output (boom, err)", end)
	}
}

// TestPingsNeverDelayAJob: pings to a server that hangs or answers 500
// leave the job's ticks and durations as they are; each failed ping is
// one warning line. The time the hooks take on the job's path is logged.
func TestPingsNeverDelayAJob(t *testing.T) {
	srv := newRecorder(t)
	var logs proctest.Buffer
	n := New(Config{PingTimeout: 300 * time.Millisecond, RetryDelay: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := &timing{inner: n, finished: make(chan schedule.Result, 1000)}
	stop := runScheduler(t, "# name: hung\n# ping: "+srv.URL+"/hang/x\n* * * * * * true\n"+
		"# name: broken\n# ping: "+srv.URL+"/broken/x\n* * * * * * exit 2\n", h)
	var results []schedule.Result
	for len(results) < 6 {
		select {
		case r := <-h.finished:
			results = append(results, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d runs in 10s: pings delay the jobs", len(results))
		}
	}
	for _, r := range results {
		if r.Duration > 500*time.Millisecond {
			t.Errorf("a run took %s: its pings are on its path", r.Duration)
		}
		if want := map[int]string{0: schedule.Succeeded, 2: schedule.Failed}[r.Code]; r.Outcome != want {
			t.Errorf("result %+v: the pings changed the job's outcome", r)
		}
	}
	h.mu.Lock()
	longest := h.longest
	h.mu.Unlock()
	t.Logf("longest time in the notifier's Started/Finished (the job's critical path): %s", longest)
	if longest > 50*time.Millisecond {
		t.Errorf("the notifier took %s on the job's path", longest)
	}
	stop()
	n.Wait(5 * time.Second)
	out := logs.String()
	for _, job := range []string{"hung", "broken"} {
		if !regexp.MustCompile(`level=WARN msg="ping failed; the job is not affected" job=` + job + ` url=http://127.0.0.1:\d+/... attempts=3`).MatchString(out) {
			t.Errorf("no one-line warning for %s's failed pings in:\n%s", job, out)
		}
	}
	if strings.Contains(out, "/x") {
		t.Errorf("the warning shows the ping URL's path (its secret):\n%s", out)
	}
}

// TestFailureHookGetsTheReport: # on-failure runs after a failed run with
// the job's name, tick, exit code and output tail in its environment and
// a file; a job's own hook wins over the default; a successful run runs
// none; a hook that hangs is stopped at its timeout.
func TestFailureHookGetsTheReport(t *testing.T) {
	dir := t.TempDir()
	var logs proctest.Buffer
	n := New(Config{OnFailure: `echo default > ` + dir + `/default.$LEADERGATE_JOB`, HookTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := &timing{inner: n, finished: make(chan schedule.Result, 1000)}
	stop := runScheduler(t, "CRON_TZ=UTC\n# name: bad\n# on-failure: env | grep ^LEADERGATE_ > "+dir+"/env.tmp; cp \"$LEADERGATE_OUTPUT_FILE\" "+dir+"/file.tmp; mv "+dir+"/env.tmp "+dir+"/env; mv "+dir+"/file.tmp "+dir+"/file\n"+
		"* * * * * * echo 'it broke'; exit 7\n"+
		"# name: plain\n* * * * * * exit 1\n"+
		"# name: good\n* * * * * * true\n"+
		"# name: slowhook\n# on-failure: sleep 30\n* * * * * * exit 1\n", h)
	waitFile := func(name string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				return string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not written within 10s", name)
			}
			<-h.finished // the next run's end, the event that lets a hook run
		}
	}
	env := waitFile("env")
	for _, want := range []string{"LEADERGATE_JOB=bad\n", "LEADERGATE_EXIT_CODE=7\n", "LEADERGATE_OUTPUT_TAIL=it broke\n", "LEADERGATE_OUTCOME=failed\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("hook environment lacks %q:\n%s", want, env)
		}
	}
	if !regexp.MustCompile(`LEADERGATE_SCHEDULED_AT=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n`).MatchString(env) {
		t.Errorf("hook environment lacks the tick:\n%s", env)
	}
	if got := waitFile("file"); got != "it broke\n" {
		t.Errorf("LEADERGATE_OUTPUT_FILE held %q", got)
	}
	if got := waitFile("default.plain"); got != "default\n" {
		t.Errorf("default hook wrote %q", got)
	}
	// Checked before the stop: a run the shutdown kills counts as failed.
	for _, name := range []string{"default.bad", "default.good"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s exists: the default hook ran for a job with its own hook or a run that succeeded", name)
		}
	}
	for !strings.Contains(logs.String(), "failure hook stopped") {
		select {
		case <-h.finished:
		case <-time.After(10 * time.Second):
			t.Fatal("the hung hook was not stopped within 10s")
		}
	}
	stop()
	n.Wait(10 * time.Second)
	if !strings.Contains(logs.String(), `msg="failure hook stopped: it ran longer than its timeout" job=slowhook`) {
		t.Errorf("no timeout warning for the hook that hangs:\n%s", logs.String())
	}
}

// TestMailtoWithoutSendmail: MAILTO= is reported once at start when the
// host has no sendmail.
func TestMailtoWithoutSendmail(t *testing.T) {
	var logs proctest.Buffer
	n := New(Config{Sendmail: "", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	n.cfg.Sendmail = "" // whatever this host has
	jobs := []schedule.Job{{Name: "a", Env: []string{"MAILTO=ops@example.com"}}, {Name: "b", Env: []string{"MAILTO=ops@example.com"}}}
	n.Loaded(jobs)
	n.Loaded(jobs) // a reload
	if got := strings.Count(logs.String(), "MAILTO is not supported on this host"); got != 1 {
		t.Errorf("%d MAILTO warnings, want 1:\n%s", got, logs.String())
	}
	logs = proctest.Buffer{}
	m := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	m.cfg.Sendmail = ""
	m.Loaded([]schedule.Job{{Name: "a", Env: []string{`MAILTO=""`}}})
	if logs.String() != "" {
		t.Errorf("an empty MAILTO (mail off) was reported: %s", logs.String())
	}
}

// TestLostRunIsReportedAsAFailure: a run the ledger finds lost with its
// instance is a failed run to whoever watches the job: its /fail ping, and
// the failure hook with LEADERGATE_OUTCOME=lost, the lost attempt's run id
// and no exit code (it died with the instance).
func TestLostRunIsReportedAsAFailure(t *testing.T) {
	rec := newRecorder(t)
	dir := t.TempDir()
	n := New(Config{HookTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	job := schedule.Job{Name: "billing", Ping: rec.URL + "/billing",
		OnFailure: "env | grep ^LEADERGATE_ > " + dir + "/env.tmp; mv " + dir + "/env.tmp " + dir + "/env"}
	tick := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	n.LostRun(schedule.RunInfo{Job: job, Tick: tick, ID: "e-1/billing@2026-03-14T03:00:00Z/1", Attempt: 1})
	n.Wait(10 * time.Second)

	q := waitReq(t, rec, "/billing/fail")
	if q.Method != http.MethodPost || !strings.Contains(q.Body, "lost with its instance") {
		t.Errorf("lost run's ping: %s %s body %q; want a POST to /fail saying it was lost", q.Method, q.Path, q.Body)
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatalf("the failure hook did not run for the lost run: %v", err)
	}
	for _, want := range []string{"LEADERGATE_JOB=billing\n", "LEADERGATE_OUTCOME=lost\n", "LEADERGATE_EXIT_CODE=\n",
		"LEADERGATE_RUN_ID=e-1/billing@2026-03-14T03:00:00Z/1\n", "LEADERGATE_SCHEDULED_AT=2026-03-14T03:00:00Z\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("hook environment lacks %q:\n%s", want, env)
		}
	}
}

// TestMissedTickIsReportedAsAFailure: a tick nobody ran, found by this
// instance, is a failed run to whoever watches the job: its /fail ping
// saying so, and the failure hook with LEADERGATE_OUTCOME=missed, no run id
// and no exit code.
func TestMissedTickIsReportedAsAFailure(t *testing.T) {
	rec := newRecorder(t)
	dir := t.TempDir()
	n := New(Config{HookTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	job := schedule.Job{Name: "billing", Ping: rec.URL + "/billing",
		OnFailure: "env | grep ^LEADERGATE_ > " + dir + "/env.tmp; mv " + dir + "/env.tmp " + dir + "/env"}
	tick := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	n.Missed(job, tick)
	n.Wait(10 * time.Second)

	q := waitReq(t, rec, "/billing/fail")
	if q.Method != http.MethodPost || !strings.Contains(q.Body, "was missed: no instance ran it") {
		t.Errorf("missed tick's ping: %s %s body %q; want a POST to /fail saying it was missed", q.Method, q.Path, q.Body)
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatalf("the failure hook did not run for the missed tick: %v", err)
	}
	for _, want := range []string{"LEADERGATE_JOB=billing\n", "LEADERGATE_OUTCOME=missed\n", "LEADERGATE_EXIT_CODE=\n",
		"LEADERGATE_RUN_ID=\n", "LEADERGATE_SCHEDULED_AT=2026-03-14T03:00:00Z\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("hook environment lacks %q:\n%s", want, env)
		}
	}
}
