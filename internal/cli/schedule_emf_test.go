package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/emf/emftest"
)

// emfCrontab has a job that succeeds and one that fails, every second.
const emfCrontab = `# name: ok
* * * * * * true
# name: bad
* * * * * * exit 3
`

// TestScheduleBinaryWritesEMFInJSONLogs: with --log-format json the
// scheduler's log carries CloudWatch Embedded Metric Format records that
// the specification's rules accept: a run per job by result, a failure
// for the failing job, the leadership checks, in the namespace given and
// the group's dimension.
func TestScheduleBinaryWritesEMFInJSONLogs(t *testing.T) {
	dir := t.TempDir()
	tab := writeCrontab(t, dir, "jobs.cron", emfCrontab)
	s := startSchedule(t, dir, "--assume", "leader", "--group", "e-test", "schedule", "--log-format", "json",
		"--refresh", "1s", "--emf-namespace", "acme/jobs", "--grace", cliGrace.String(), tab)
	metrics := func(event, job string, also func(logRecord) bool) []logRecord {
		return s.findWhere("metrics", "", func(r logRecord) bool {
			return r.str("event") == event && (job == "" || r.str("Job") == job) && also(r)
		})
	}
	any := func(logRecord) bool { return true }
	if !waitFor(cliWait, func() bool {
		return len(metrics("run finished", "bad", any)) > 0 && len(metrics("run finished", "ok", any)) > 0 &&
			len(metrics("leadership checked", "", any)) > 0
	}) {
		t.Fatalf("no metrics records for both jobs and the leadership check within %s", cliWait)
	}
	s.stop(t)

	for l := range strings.Lines(s.stderr.String()) {
		if strings.Contains(l, `"_aws"`) {
			if err := emftest.Validate([]byte(strings.TrimSuffix(l, "\n"))); err != nil {
				t.Errorf("not an EMF record: %v\n%s", err, l)
			}
			if !strings.Contains(l, `"Namespace":"acme/jobs"`) || !strings.Contains(l, `"Group":"e-test"`) {
				t.Errorf("record without the namespace or group given:\n%s", l)
			}
		}
	}
	for _, r := range metrics("run finished", "bad", any) {
		if r.str("Result") != "failed" || r.num("Failures") != 1 || r.num("Runs") != 1 || r.num("ExitCode") != 3 {
			t.Errorf("the failing job's record: %v", r)
		}
	}
	for _, r := range metrics("run finished", "ok", any) {
		if r.str("Result") != "succeeded" || r.num("Failures") != 0 || r.num("Duration") < 0 {
			t.Errorf("the succeeding job's record: %v", r)
		}
	}
	if rs := metrics("leadership checked", "", func(r logRecord) bool { return r.num("Leader") == 1 }); len(rs) == 0 {
		t.Errorf("no leadership record with Leader 1 (--assume leader)")
	}
}

// TestScheduleBinaryEMFSwitch: text logs get no metrics records unless
// --emf on, and then as JSON lines of their own; --emf off leaves JSON
// logs without them.
func TestScheduleBinaryEMFSwitch(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		records bool
	}{
		{"text logs", []string{"--log-format", "text"}, false},
		{"text logs with --emf on", []string{"--log-format", "text", "--emf", "on"}, true},
		{"json logs with --emf off", []string{"--log-format", "json", "--emf", "off"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			tab := writeCrontab(t, dir, "jobs.cron", emfCrontab)
			args := append([]string{"--assume", "leader", "schedule", "--grace", cliGrace.String()}, c.args...)
			s := startSchedule(t, dir, append(args, tab)...)
			// Two runs of the failing job have ended: records would be there.
			if !waitFor(cliWait, func() bool {
				return strings.Count(s.stderr.String(), "job failed") >= 2
			}) {
				t.Fatalf("the failing job did not fail twice within %s", cliWait)
			}
			// Not s.stop: it reads the log as JSON, and text logs are not.
			s.signal(t, syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(cliGrace + cliExitMargin):
				t.Fatalf("the scheduler did not exit within %s of SIGTERM", cliGrace+cliExitMargin)
			}
			var emf, other int
			for l := range strings.Lines(s.stderr.String()) {
				if strings.Contains(l, `"_aws"`) {
					emf++
					if err := emftest.Validate([]byte(strings.TrimSuffix(l, "\n"))); err != nil {
						t.Errorf("not an EMF record: %v\n%s", err, l)
					}
				} else {
					other++
				}
			}
			switch {
			case c.records && emf == 0:
				t.Errorf("no metrics records:\n%s", s.stderr)
			case !c.records && emf > 0:
				t.Errorf("%d metrics records, want none:\n%s", emf, s.stderr)
			case other == 0:
				t.Errorf("no log records besides metrics")
			}
		})
	}
}

// TestScheduleBinaryRefusesABadEMFNamespace: a namespace CloudWatch would
// refuse is a usage error at start, not metrics silently lost.
func TestScheduleBinaryRefusesABadEMFNamespace(t *testing.T) {
	dir := t.TempDir()
	tab := writeCrontab(t, dir, "jobs.cron", emfCrontab)
	code, _, stderr := runLeadergate(t, dir, "--assume", "leader", "schedule", "--log-format", "json", "--emf-namespace", strings.Repeat("n", 256), filepath.Base(tab))
	if code != 64 || !strings.Contains(stderr, "--emf-namespace") {
		t.Errorf("exit %d, stderr %q; want 64 naming --emf-namespace", code, stderr)
	}
}

// TestScheduleBinaryEMFFollowsLogFile: with --log-file the metrics records
// go where the log goes, also as JSON lines among text ones (--emf on).
func TestScheduleBinaryEMFFollowsLogFile(t *testing.T) {
	dir := t.TempDir()
	tab := writeCrontab(t, dir, "jobs.cron", emfCrontab)
	logFile := filepath.Join(dir, "leadergate.log")
	s := startSchedule(t, dir, "--assume", "leader", "schedule", "--grace", cliGrace.String(),
		"--log-file", logFile, "--emf", "on", tab)
	read := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	if !waitFor(cliWait, func() bool { return strings.Count(read(), `"Result":"failed"`) >= 1 }) {
		t.Fatalf("no metrics record of the failing job in --log-file within %s:\n%s", cliWait, read())
	}
	s.signal(t, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(cliGrace + cliExitMargin):
		t.Fatalf("the scheduler did not exit within %s of SIGTERM", cliGrace+cliExitMargin)
	}
	if strings.Contains(s.stderr.String(), "_aws") {
		t.Errorf("metrics records on stderr with --log-file:\n%s", s.stderr)
	}
	for l := range strings.Lines(read()) {
		if strings.HasPrefix(l, "{") {
			if err := emftest.Validate([]byte(strings.TrimSuffix(l, "\n"))); err != nil {
				t.Errorf("not an EMF record: %v\n%s", err, l)
			}
		}
	}
}
