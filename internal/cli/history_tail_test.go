package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/emf/emftest"
)

// TestScheduleWithLedgerKeepsAFailuresOutputAndWritesEMF: through the
// binary, on an EC2 emulator and moto_server's DynamoDB: a failed run's
// output is in history (--json output_tail, --html folded under the
// failure), a successful run's is not; and the scheduler's metrics records
// carry the ledger's group and this instance.
func TestScheduleWithLedgerKeepsAFailuresOutputAndWritesEMF(t *testing.T) {
	nodes, _, _, _, _ := ledgerNodes(t, 1)
	n := nodes[0]
	work := t.TempDir()
	crontab := filepath.Join(work, "leader-jobs.cron")
	// One stream: the order of lines across stdout and stderr is the
	// order the scheduler read them, which two pipes do not fix.
	body := "# name: bad\n* * * * * * echo charging 12 accounts; echo 'error: the bank said no'; exit 3\n" +
		"# name: good\n* * * * * * echo all fine\n"
	if err := os.WriteFile(crontab, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startScheduler(t, n, "schedule", "--log-format", "json", crontab)
	history := func(job string) []historyLine {
		_, out := n.leadergateOut("history", "--job", job, "--json", "--since", "1h")
		var hs []historyLine
		for l := range strings.Lines(out) {
			var h historyLine
			if err := json.Unmarshal([]byte(l), &h); err != nil {
				t.Fatalf("history line %q: %v", l, err)
			}
			hs = append(hs, h)
		}
		return hs
	}
	failed := func() (historyLine, bool) {
		for _, h := range history("bad") {
			if h.State == "failed" {
				return h, true
			}
		}
		return historyLine{}, false
	}
	var bad historyLine
	if !waitFor(30*time.Second, func() (ok bool) { bad, ok = failed(); return ok }) {
		t.Fatalf("no failed run of bad in history within 30s; scheduler log:\n%s", s.stderr.String())
	}
	if !waitFor(30*time.Second, func() bool {
		for _, h := range history("good") {
			if h.State == "succeeded" {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no successful run of good in history within 30s")
	}
	s.stopWithin(t, 30*time.Second)

	if bad.Tail != "charging 12 accounts\nerror: the bank said no\n" {
		t.Errorf("the failed run's output_tail is %q, want its output", bad.Tail)
	}
	for _, h := range history("good") {
		if h.Tail != "" {
			t.Errorf("a successful run kept output %q", h.Tail)
		}
	}
	page := filepath.Join(work, "history.html")
	if code, out := n.leadergateOut("history", "--since", "1h", "--html", page); code != 0 {
		t.Fatalf("history --html: exit %d: %s", code, out)
	}
	b, _ := os.ReadFile(page)
	if !strings.Contains(string(b), "<summary>its last output</summary><pre>charging 12 accounts\nerror: the bank said no\n</pre>") {
		t.Errorf("the page does not fold the failed run's output under it")
	}

	// The metrics records: valid EMF, the ledger's group, this instance.
	var runs int
	for l := range strings.Lines(s.stderr.String()) {
		if !strings.Contains(l, `"_aws"`) {
			continue
		}
		if err := emftest.Validate([]byte(strings.TrimSuffix(l, "\n"))); err != nil {
			t.Errorf("not an EMF record: %v\n%s", err, l)
		}
		var r map[string]any
		_ = json.Unmarshal([]byte(l), &r)
		if r["Group"] != "e-main" || r["Instance"] != n.id {
			t.Errorf("record with Group %v, Instance %v; want e-main, %s", r["Group"], r["Instance"], n.id)
		}
		if r["event"] == "run finished" {
			runs++
		}
	}
	if runs == 0 {
		t.Errorf("no run finished record in the scheduler's log")
	}
}
