package emf

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/emf/emftest"
	"github.com/leadergate/leadergate/schedule"
)

var at = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

func newHooks(ns string) (*Hooks, *bytes.Buffer) {
	var buf bytes.Buffer
	h := New(Options{
		Logger:    schedule.NewLogger(&buf, "json", slog.LevelInfo),
		Namespace: ns,
		Group:     "e-abc123",
		Instance:  "i-0aaa",
		Now:       func() time.Time { return at },
	})
	return h, &buf
}

// everyEvent calls each hook that writes a record once or more.
func everyEvent(h *Hooks) {
	j := schedule.Job{Name: "billing"}
	tick := at.Truncate(time.Minute)
	run := schedule.RunInfo{Job: j, Tick: tick, ID: "r1", Attempt: 1, Lateness: 250 * time.Millisecond}
	h.Finished(run, schedule.Result{Outcome: schedule.Succeeded, Duration: 3 * time.Second})
	h.Finished(run, schedule.Result{Outcome: schedule.Failed, Code: 2, Duration: 1500 * time.Millisecond})
	h.Finished(run, schedule.Result{Outcome: schedule.TimedOut, Code: 143, Duration: time.Minute})
	h.Finished(run, schedule.Result{Outcome: schedule.NotStarted, Code: 127, Err: errors.New("no shell")})
	h.LostRun(run)
	h.Missed(j, tick)
	h.Skipped(j, tick, "paused by arn:aws:iam::123456789012:user/alice: database migration")
	h.Skipped(j, tick, "")
	h.Leadership(true, nil)
	h.Leadership(false, nil)
	h.Leadership(false, errors.New("throttled"))
	h.Claimed(j, tick, schedule.ClaimTakenOver)
	h.CaughtUp(j, tick)
	h.Drained()
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if err := emftest.Validate([]byte(l)); err != nil {
			t.Errorf("not an EMF record: %v\n%s", err, l)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestEveryRecordFollowsTheSpecification: every event's record is one
// line that the EMF specification's rules accept, in the namespace given
// (leadergate by default), stamped with the scheduler's clock in
// milliseconds, and a record of the scheduler's JSON log too (time, level,
// msg).
func TestEveryRecordFollowsTheSpecification(t *testing.T) {
	for _, ns := range []string{"", "acme/billing-env"} {
		h, buf := newHooks(ns)
		everyEvent(h)
		recs := lines(t, buf)
		if len(recs) != 14 {
			t.Errorf("%d records, want 14 (Claimed writes only takeovers):\n%s", len(recs), buf)
		}
		want := ns
		if want == "" {
			want = "leadergate"
		}
		for _, r := range recs {
			aws := r["_aws"].(map[string]any)
			if ts := aws["Timestamp"].(float64); int64(ts) != at.UnixMilli() {
				t.Errorf("Timestamp %v, want %d", ts, at.UnixMilli())
			}
			for _, d := range aws["CloudWatchMetrics"].([]any) {
				if got := d.(map[string]any)["Namespace"]; got != want {
					t.Errorf("namespace %v, want %s", got, want)
				}
			}
			if r["msg"] != Message || r["level"] != "INFO" || r["time"] == nil {
				t.Errorf("not a log record of the scheduler: %v", r)
			}
			if r["Group"] != "e-abc123" || r["Instance"] != "i-0aaa" {
				t.Errorf("group or instance missing: %v", r)
			}
		}
	}
}

// metricsOf lists "Name[dims|dims]" for each metric the record defines.
func metricsOf(r map[string]any) []string {
	var out []string
	for _, d := range r["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
		var sets []string
		for _, s := range d.(map[string]any)["Dimensions"].([]any) {
			var keys []string
			for _, k := range s.([]any) {
				keys = append(keys, k.(string))
			}
			sets = append(sets, strings.Join(keys, ","))
		}
		for _, m := range d.(map[string]any)["Metrics"].([]any) {
			out = append(out, m.(map[string]any)["Name"].(string)+"["+strings.Join(sets, "|")+"]")
		}
	}
	slices.Sort(out)
	return out
}

// TestWhatEachEventCounts: the values and dimensions a CloudWatch alarm or
// graph would see for each event.
func TestWhatEachEventCounts(t *testing.T) {
	h, buf := newHooks("")
	everyEvent(h)
	recs := lines(t, buf)
	type want struct {
		metrics []string
		values  map[string]any
	}
	runs := "Runs[Group,Job,Result|Group,Result]"
	fails := "Failures[Group,Job|Group]"
	for i, w := range []want{
		{[]string{"Duration[Group,Job]", fails, "Lateness[Group,Job]", runs},
			map[string]any{"Job": "billing", "Result": "succeeded", "Runs": 1.0, "Failures": 0.0, "Duration": 3.0, "Lateness": 0.25, "ExitCode": 0.0, "Tick": "2026-03-04T05:06:00Z", "RunId": "r1", "Attempt": 1.0}},
		{[]string{"Duration[Group,Job]", fails, "Lateness[Group,Job]", runs},
			map[string]any{"Result": "failed", "Failures": 1.0, "Duration": 1.5, "ExitCode": 2.0}},
		{[]string{"Duration[Group,Job]", fails, "Lateness[Group,Job]", runs},
			map[string]any{"Result": "timed_out", "Failures": 1.0, "Duration": 60.0, "ExitCode": 143.0}},
		// A run that never started has no duration to average in.
		{[]string{fails, "Lateness[Group,Job]", runs},
			map[string]any{"Result": "not_started", "Failures": 1.0, "Duration": nil}},
		{[]string{fails, runs}, map[string]any{"Result": "lost", "Runs": 1.0, "Failures": 1.0}},
		{[]string{"Missed[Group,Job|Group]"}, map[string]any{"Job": "billing", "Missed": 1.0, "Tick": "2026-03-04T05:06:00Z"}},
		{[]string{"Skipped[Group,Job,Reason|Group,Reason]"}, map[string]any{"Reason": "paused", "Why": "paused by arn:aws:iam::123456789012:user/alice: database migration", "Skipped": 1.0}},
		{[]string{"Skipped[Group,Job,Reason|Group,Reason]"}, map[string]any{"Reason": "unknown"}},
		{[]string{"Elections[Group,Result]", "Leader[Group]"}, map[string]any{"Result": "leader", "Leader": 1.0}},
		{[]string{"Elections[Group,Result]", "Leader[Group]"}, map[string]any{"Result": "follower", "Leader": 0.0}},
		// A failed check says nothing about who leads.
		{[]string{"Elections[Group,Result]"}, map[string]any{"Result": "error", "Leader": nil}},
		{[]string{"TakeOvers[Group]"}, map[string]any{"Job": "billing", "TakeOvers": 1.0}},
		{[]string{"CatchUps[Group]"}, map[string]any{"CatchUps": 1.0}},
		{[]string{"Drains[Group]"}, map[string]any{"Drains": 1.0}},
	} {
		if i >= len(recs) {
			t.Fatalf("record %d missing", i)
		}
		if got := metricsOf(recs[i]); !slices.Equal(got, w.metrics) {
			t.Errorf("record %d (%s) defines %v, want %v", i, recs[i]["event"], got, w.metrics)
		}
		for k, v := range w.values {
			if recs[i][k] != v {
				t.Errorf("record %d (%s): %s = %v, want %v", i, recs[i]["event"], k, recs[i][k], v)
			}
		}
	}
}

// TestClaimsWonOrElsewhereWriteNothing: only a takeover is worth a line;
// a follower writing every tick it did not take would multiply the log by
// the fleet's size.
func TestClaimsWonOrElsewhereWriteNothing(t *testing.T) {
	h, buf := newHooks("")
	h.Claimed(schedule.Job{Name: "j"}, at, schedule.ClaimWon)
	h.Claimed(schedule.Job{Name: "j"}, at, schedule.ClaimTakenElsewhere)
	h.Loaded([]schedule.Job{{Name: "j"}})
	h.Alive()
	h.Started(schedule.RunInfo{Job: schedule.Job{Name: "j"}})
	if buf.Len() != 0 {
		t.Errorf("wrote:\n%s", buf)
	}
}
