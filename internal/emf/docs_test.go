package emf

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// written lists, for every metric the hooks write, its unit and its
// dimension sets ("Group,Job"), from one record of every event.
func written(t *testing.T) map[string]struct {
	unit string
	sets []string
} {
	t.Helper()
	h, buf := newHooks("")
	everyEvent(h)
	out := map[string]struct {
		unit string
		sets []string
	}{}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r struct {
			AWS Metadata `json:"_aws"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		for _, d := range r.AWS.CloudWatchMetrics {
			for _, m := range d.Metrics {
				w := out[m.Name]
				w.unit = m.Unit
				for _, s := range d.Dimensions {
					if set := strings.Join(s, ","); !slices.Contains(w.sets, set) {
						w.sets = append(w.sets, set)
					}
				}
				slices.Sort(w.sets)
				out[m.Name] = w
			}
		}
	}
	return out
}

// TestDocsListEveryMetric: the EMF table of docs/operations.md lists every
// metric written, with its unit and dimension sets, and nothing else.
func TestDocsListEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	// | `Runs` | Count | `Group,Job,Result` · `Group,Result` | when |
	row := regexp.MustCompile("^\\| `([A-Za-z]+)` \\| ([A-Za-z]+) \\| (`[A-Za-z,]+`(?: · `[A-Za-z,]+`)*) \\|")
	documented := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			sets := strings.Split(strings.ReplaceAll(m[3], "`", ""), " · ")
			slices.Sort(sets)
			documented[m[1]] = m[2] + " " + strings.Join(sets, " ")
		}
	}
	for name, w := range written(t) {
		if got, want := documented[name], w.unit+" "+strings.Join(w.sets, " "); got != want {
			t.Errorf("%s is written as %q, documented as %q", name, want, got)
		}
		delete(documented, name)
	}
	for name := range documented {
		t.Errorf("docs/operations.md lists %s, which is not written", name)
	}
}

// TestTheAlarmExampleNamesWrittenMetrics: every metric the CloudWatch alarm
// example watches is one the scheduler writes, in its namespace, with
// exactly the dimensions the alarm gives (CloudWatch matches dimension sets
// exactly: one too many or too few and the alarm watches nothing), and its
// metric math refers to ids it defines.
func TestTheAlarmExampleNamesWrittenMetrics(t *testing.T) {
	b, err := os.ReadFile("../../docs/examples/cloudwatch-alarms.config")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Namespace  string `yaml:"Namespace"`
				MetricName string `yaml:"MetricName"`
				Dimensions []struct {
					Name string `yaml:"Name"`
				} `yaml:"Dimensions"`
				Metrics []struct {
					ID         string `yaml:"Id"`
					Expression string `yaml:"Expression"`
					MetricStat struct {
						Metric struct {
							Namespace  string `yaml:"Namespace"`
							MetricName string `yaml:"MetricName"`
							Dimensions []struct {
								Name string `yaml:"Name"`
							} `yaml:"Dimensions"`
						} `yaml:"Metric"`
					} `yaml:"MetricStat"`
				} `yaml:"Metrics"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	w := written(t)
	check := func(alarm, ns, name string, dims []string) {
		if ns != DefaultNamespace {
			t.Errorf("%s watches namespace %q, not %q", alarm, ns, DefaultNamespace)
		}
		if set := strings.Join(dims, ","); !slices.Contains(w[name].sets, set) {
			t.Errorf("%s watches %s with dimensions %q; it is written with %q", alarm, name, set, w[name].sets)
		}
	}
	alarms := 0
	for name, r := range cfg.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		alarms++
		p := r.Properties
		if p.MetricName != "" {
			var dims []string
			for _, d := range p.Dimensions {
				dims = append(dims, d.Name)
			}
			check(name, p.Namespace, p.MetricName, dims)
		}
		ids := map[string]bool{}
		for _, m := range p.Metrics {
			ids[m.ID] = true
			if m.Expression != "" {
				continue
			}
			var dims []string
			for _, d := range m.MetricStat.Metric.Dimensions {
				dims = append(dims, d.Name)
			}
			check(name, m.MetricStat.Metric.Namespace, m.MetricStat.Metric.MetricName, dims)
		}
		for _, m := range p.Metrics {
			for _, ref := range regexp.MustCompile(`\(([a-z][a-zA-Z0-9_]*),`).FindAllStringSubmatch(m.Expression, -1) {
				if !ids[ref[1]] {
					t.Errorf("%s's expression %q refers to %s, which it does not define", name, m.Expression, ref[1])
				}
			}
		}
	}
	if alarms != 2 {
		t.Errorf("%d alarms in the example, want 2 (failed or missed; no leader)", alarms)
	}
}
