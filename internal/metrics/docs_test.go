package metrics

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/leadergate/leadergate/schedule"
)

// TestDocsListEveryMetric: the metric table of docs/operations.md lists
// every metric served, with its type and labels, and nothing else; the
// results of the ticks claimed counter are the ones the scheduler reports.
func TestDocsListEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	// | `name` | type | `label`, `label` | meaning |
	documented := map[string]string{}
	var meaning string
	for _, l := range strings.Split(string(b), "\n") {
		cells := strings.Split(l, "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`leadergate_") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		documented[name] = strings.TrimSpace(strings.TrimSpace(cells[2]) + " " + strings.ReplaceAll(strings.TrimSpace(cells[3]), "`", ""))
		if name == "leadergate_ticks_claimed_total" {
			meaning = cells[4]
		}
	}

	m := New(time.Now, time.Minute)
	j := schedule.Job{Name: "j", Schedule: everySecond{}}
	m.Loaded([]schedule.Job{j})
	m.Planned(j, time.Now())
	m.Started(schedule.RunInfo{Job: j})
	m.Finished(schedule.RunInfo{Job: j}, schedule.Result{Outcome: schedule.Succeeded})
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]string{}
	for _, f := range fams {
		var labels []string
		for _, l := range f.Metric[0].Label {
			labels = append(labels, l.GetName())
		}
		served[f.GetName()] = strings.TrimSpace(strings.ToLower(f.GetType().String()) + " " + strings.Join(labels, ", "))
	}
	for name, what := range served {
		if documented[name] != what {
			t.Errorf("%s is served as %q, documented as %q", name, what, documented[name])
		}
	}
	for name := range documented {
		if _, ok := served[name]; !ok {
			t.Errorf("%s is documented but not served", name)
		}
	}
	for _, r := range []string{schedule.ClaimWon, schedule.ClaimTakenOver, schedule.ClaimTakenElsewhere} {
		if !strings.Contains(meaning, "`"+r+"`") {
			t.Errorf("the docs' leadergate_ticks_claimed_total row does not name the result %q", r)
		}
	}
	for _, f := range fams {
		if f.GetName() == "leadergate_ticks_claimed_total" {
			var results []string
			for _, s := range f.Metric {
				results = append(results, label(s, "result"))
			}
			slices.Sort(results)
			if want := []string{schedule.ClaimTakenElsewhere, schedule.ClaimTakenOver, schedule.ClaimWon}; !slices.Equal(results, want) {
				t.Errorf("ticks claimed results served %q, want %q", results, want)
			}
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

type everySecond struct{}

func (everySecond) Next(t time.Time) time.Time { return t.Truncate(time.Second).Add(time.Second) }
