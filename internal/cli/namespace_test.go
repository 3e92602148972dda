package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Elastic Beanstalk's two crontabs (the application's, and the root one the
// deployment installs) run two schedulers of one group. A job named alike
// in both was one ledger key: each scheduler found the other's ticks taken
// and most ticks of one of them never ran. The root scheduler names its
// jobs root/NAME (--namespace root, as install.sh starts it): both run
// every tick.
func TestTwoCrontabsWithAJobOfTheSameNameBothRunEveryTick(t *testing.T) {
	t.Parallel()
	nodes, _, _, _, _ := ledgerNodes(t, 1)
	n := nodes[0]
	work := t.TempDir()
	crontab := func(name, log string) string {
		path := filepath.Join(work, name)
		body := fmt.Sprintf("# name: report\n@every 2s echo \"$ID $LEADERGATE_SCHEDULED_AT $(date +%%s.%%N)\" >> '%s'\n", log)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	appLog, rootLog := filepath.Join(work, "app.log"), filepath.Join(work, "root.log")
	args := []string{"schedule", "--max-age", "0s", "--log-format", "json", "--grace", "2s", "--takeover-after", "1s", "--lease", "6s", "--imds-poll", "0s"}
	app := startScheduler(t, n, append(args, crontab("leader-jobs.cron", appLog))...)
	rootNode := &node{id: n.id, env: append(append([]string(nil), n.env...), "LEADERGATE_STATE_DIR="+filepath.Join(work, "state-root"))}
	root := startScheduler(t, rootNode, append(args, "--namespace", "root", "--no-lifecycle", crontab("leader-jobs.root.cron", rootLog))...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("app scheduler:\n%s\nroot scheduler:\n%s", app.stderr.String(), root.stderr.String())
		}
	})
	ticks := func(path string) map[time.Time]bool {
		m := map[time.Time]bool{}
		for _, l := range readRan(t, path) {
			m[l.tick] = true
		}
		return m
	}
	// Wait for four ticks both schedulers were up for: the ticks the app's
	// job ran after the root's first run.
	var common []time.Time
	if !waitFor(40*time.Second, func() bool {
		a, r := ticks(appLog), ticks(rootLog)
		common = common[:0]
		var first time.Time
		for tk := range r {
			if first.IsZero() || tk.Before(first) {
				first = tk
			}
		}
		for tk := range a {
			if !first.IsZero() && !tk.Before(first) {
				common = append(common, tk)
			}
		}
		return len(common) >= 4
	}) {
		t.Fatalf("the two schedulers did not both run 4 ticks within 40s: app %v, root %v", ticks(appLog), ticks(rootLog))
	}
	// Every tick the application's job ran (once both were up), the root's
	// ran too, and the other way round (the last tick may still be going:
	// common comes from a map, so it is sorted first).
	slices.SortFunc(common, time.Time.Compare)
	a, r := ticks(appLog), ticks(rootLog)
	for _, tk := range common[:len(common)-1] {
		if !r[tk] {
			t.Errorf("tick %s ran the application's report but not root's: one ledger key for two jobs", tk.Format("15:04:05"))
		}
	}
	first, last := common[0], common[len(common)-1]
	for tk := range r {
		if !tk.Before(first) && tk.Before(last) && !a[tk] {
			t.Errorf("tick %s ran root's report but not the application's", tk.Format("15:04:05"))
		}
	}
	if !strings.Contains(root.stderr.String(), `"job":"root/report"`) {
		t.Errorf("the root scheduler's job is not named root/report in its log")
	}
}
