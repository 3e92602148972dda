package cli

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
	"github.com/leadergate/leadergate/internal/metrics"
	"github.com/leadergate/leadergate/internal/proctest"
	"github.com/leadergate/leadergate/ledger"
	"github.com/leadergate/leadergate/schedule"
)

// claimEvents passes the ledger's answers and the runs' ends to the test.
type claimEvents struct {
	schedule.NopHooks
	claimed  chan string
	finished chan string
}

func (e claimEvents) Claimed(_ schedule.Job, _ time.Time, result string) { e.claimed <- result }
func (e claimEvents) Finished(_ schedule.RunInfo, res schedule.Result) {
	e.finished <- res.Outcome
}

// ledgerCounters scrapes /metrics and returns the tick ledger's counters,
// parsed with Prometheus' own text parser, by name and result label.
func ledgerCounters(t *testing.T, url string) map[string]float64 {
	t.Helper()
	fams, err := scrapeMetrics(t, url)
	if err != nil {
		t.Fatalf("scraping the metrics: %v", err)
	}
	got := map[string]float64{}
	for _, name := range []string{"leadergate_ticks_claimed_total", "leadergate_lost_runs_total", "leadergate_catchups_total"} {
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s in /metrics", name)
		}
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[key] = m.Counter.GetValue()
		}
	}
	return got
}

// TestScheduleLedgerCountsClaimsLostRunsAndCatchUps runs the scheduler in
// process with the tick ledger on an in-memory store and a manual clock,
// one nightly job (03:00 UTC), for each way a tick can go, and checks
// every ledger counter of /metrics after it: the leader's claim is won, a
// follower's after the takeover delay taken_over, a tick someone else
// claimed taken_elsewhere, a run found lost counts lost (and a rerun of it
// is a takeover), and a missed tick run at start counts a catch-up.
func TestScheduleLedgerCountsClaimsLostRunsAndCatchUps(t *testing.T) {
	const (
		takeover = 15 * time.Second
		lease    = time.Minute
	)
	tick := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	key := ledger.Key{Group: "e-test", Job: "nightly", Tick: tick}
	// A run the leader claimed and finished; one whose instance died 50 s
	// into it, its last renewed lease ending 5 s after the tick.
	done := ledger.Record{Key: key, Owner: "i-leader", State: ledger.Succeeded, Fence: 1, Attempt: 1,
		LeaseUntil: tick.Add(lease), Started: tick, Finished: tick.Add(time.Second)}
	dead := ledger.Record{Key: key, Owner: "i-dead", State: ledger.Running, Fence: 1, Attempt: 1,
		LeaseUntil: tick.Add(5 * time.Second), Started: tick}
	counters := func(won, takenOver, elsewhere, lost, catchUps float64) map[string]float64 {
		return map[string]float64{
			"leadergate_ticks_claimed_total{result=won}":             won,
			"leadergate_ticks_claimed_total{result=taken_over}":      takenOver,
			"leadergate_ticks_claimed_total{result=taken_elsewhere}": elsewhere,
			"leadergate_lost_runs_total":                             lost,
			"leadergate_catchups_total":                              catchUps,
		}
	}
	for _, tc := range []struct {
		name      string
		leader    bool
		directive string          // above the job
		start     time.Time       // the clock at start
		seed      []ledger.Record // in the store before the scheduler starts
		claimAt   time.Time       // when the claim is made (zero: at start, a catch-up)
		claimed   bool            // the ledger decides the tick here
		wantRun   bool            // the job ran here
		wantState ledger.State    // the tick's record afterwards
		want      map[string]float64
	}{
		{name: "the leader wins an unclaimed tick", claimed: true, leader: true,
			start: tick.Add(-2 * time.Second), claimAt: tick,
			wantRun: true, wantState: ledger.Succeeded, want: counters(1, 0, 0, 0, 0)},
		{name: "a follower takes over a tick nobody claimed, after the takeover delay", claimed: true,
			start: tick.Add(-2 * time.Second), claimAt: tick.Add(takeover),
			wantRun: true, wantState: ledger.Succeeded, want: counters(0, 1, 0, 0, 0)},
		{name: "a follower finds the tick claimed by the leader", claimed: true,
			start: tick.Add(-2 * time.Second), seed: []ledger.Record{done}, claimAt: tick.Add(takeover),
			wantState: ledger.Succeeded, want: counters(0, 0, 1, 0, 0)},
		{name: "the leader finds the tick claimed by another instance", claimed: true, leader: true,
			start: tick.Add(-2 * time.Second), seed: []ledger.Record{done}, claimAt: tick,
			wantState: ledger.Succeeded, want: counters(0, 0, 1, 0, 0)},
		{name: "a follower finds the tick's run lost with its instance and records it lost", claimed: true,
			start: tick.Add(-2 * time.Second), seed: []ledger.Record{dead}, claimAt: tick.Add(takeover),
			wantState: ledger.Lost, want: counters(0, 0, 1, 1, 0)},
		{name: "with # on-lost: rerun, a follower reruns the lost run", claimed: true, directive: "# on-lost: rerun\n",
			start: tick.Add(-2 * time.Second), seed: []ledger.Record{dead}, claimAt: tick.Add(takeover),
			wantRun: true, wantState: ledger.Succeeded, want: counters(0, 1, 0, 1, 0)},
		{name: "the leader catches up the tick missed before it started", claimed: true, leader: true, directive: "# catch-up: 6h\n",
			start:   tick.Add(150 * time.Minute),
			wantRun: true, wantState: ledger.Succeeded, want: counters(1, 0, 0, 0, 1)},
		{name: "a follower catches up a missed tick nobody ran", claimed: true, directive: "# catch-up: 6h\n",
			start:   tick.Add(150 * time.Minute),
			wantRun: true, wantState: ledger.Succeeded, want: counters(0, 1, 0, 0, 1)},
		{name: "a missed tick someone else ran is no catch-up", leader: true, directive: "# catch-up: 6h\n",
			start: tick.Add(150 * time.Minute), seed: []ledger.Record{done},
			wantState: ledger.Succeeded, want: counters(0, 0, 0, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "ran")
			tab := writeCrontab(t, dir, "jobs.cron", fmt.Sprintf("CRON_TZ=UTC\n# name: nightly\n%s0 3 * * * echo $LEADERGATE_SCHEDULED_AT >> '%s'\n", tc.directive, out))
			clk := clocktest.New(tc.start)
			store := &ledger.Memory{}
			for _, r := range tc.seed {
				if err := store.Create(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			var logs proctest.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("scheduler log:\n%s", logs.String())
				}
			})
			m := metrics.New(clk.Now, time.Hour)
			srv := httptest.NewServer(m.Handler())
			defer srv.Close()
			ev := claimEvents{claimed: make(chan string, 10), finished: make(chan string, 10)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ran := make(chan error, 1)
			go func() {
				ran <- schedule.Run(ctx, schedule.Options{
					File: tab, Authority: gate.Assume(tc.leader), Logger: log, Refresh: -1, Clock: clk,
					Hooks: schedule.MultiHooks{m, ev},
					Ledger: &ledger.Turn{
						Ledger: &ledger.Ledger{Store: store, Owner: "i-self", Clock: clk, Lease: lease, Timeout: cliWait, Log: log},
						Group:  key.Group, Takeover: takeover,
					},
				})
			}()

			if !tc.claimAt.IsZero() {
				// The loop sleeps until the tick; a follower's claim then
				// sleeps until the takeover delay has passed.
				clk.Advance(t, tick)
				if !tc.claimAt.Equal(tick) {
					clk.Advance(t, tc.claimAt)
				}
			}
			if tc.claimed {
				select {
				case <-ev.claimed:
				case err := <-ran:
					t.Fatalf("the scheduler returned before the claim: %v", err)
				case <-time.After(cliWait):
					t.Fatalf("no claim within %s", cliWait)
				}
			} else {
				// No claim to wait for: the catch-up pass is over once the
				// loop sleeps until the next tick.
				clk.WaitFor(t, tick.Add(24*time.Hour))
			}
			if tc.wantRun {
				select {
				case o := <-ev.finished:
					if o != schedule.Succeeded {
						t.Errorf("the run %s, want %s", o, schedule.Succeeded)
					}
				case <-time.After(cliWait):
					t.Fatalf("the claimed run did not finish within %s", cliWait)
				}
			}
			cancel()
			if err := <-ran; err != nil {
				t.Fatal(err)
			}

			if got := ledgerCounters(t, srv.URL); !maps.Equal(got, tc.want) {
				t.Errorf("ledger counters after the tick:\n got %v\nwant %v", got, tc.want)
			}
			lines := completeLines(t, out)
			switch {
			case tc.wantRun && (len(lines) != 1 || lines[0] != tick.Format(time.RFC3339)):
				t.Errorf("the job wrote %q, want one run of the %s tick", lines, tick.Format(time.RFC3339))
			case !tc.wantRun && len(lines) != 0:
				t.Errorf("the job ran here (%q), want it run nowhere but where it was claimed", lines)
			}
			r, ok, err := store.Get(context.Background(), key)
			if err != nil || !ok || r.State != tc.wantState {
				t.Errorf("the tick's record: %+v (found %v, %v), want state %s", r, ok, err, tc.wantState)
			}
		})
	}
}
