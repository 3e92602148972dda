package timeline

import (
	"time"

	"github.com/leadergate/leadergate/ledger"
)

// t0 is far from any boundary of the axis steps.
var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// everyOutcome is a ledger of two jobs with every kind of record: runs
// that succeeded and failed on three instances, leadership moving from one
// to the next, a run lost with its instance, one taken over (fence 2), a
// triggered run, one still running, a missed tick nobody ran (found by the
// next scheduler), a tick an operator skipped, one skipped because the job
// was paused, the pause's audit record, a control for the whole group, and
// a state this package does not know.
func everyOutcome() ([]ledger.Record, time.Time) {
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	run := func(job string, tick int, owner string, state ledger.State, secs float64, code int) ledger.Record {
		r := ledger.Record{Key: ledger.Key{Group: "e-abc123", Job: job, Tick: min(tick)}, Owner: owner, State: state,
			Fence: 1, Attempt: 1, ExitCode: code, Started: min(tick).Add(200 * time.Millisecond)}
		r.Finished = r.Started.Add(time.Duration(secs * float64(time.Second)))
		return r
	}
	const alice, bob = "arn:aws:iam::123456789012:user/alice", "arn:aws:sts::123456789012:assumed-role/ops/bob"
	at := func(n int, sec int) time.Time { return min(n).Add(time.Duration(sec) * time.Second) }
	recs := []ledger.Record{
		run("billing", 0, "i-0aaa", ledger.Succeeded, 40, 0),
		run("billing", 5, "i-0aaa", ledger.Succeeded, 42, 0),
		func() ledger.Record {
			r := run("billing", 10, "i-0aaa", ledger.Failed, 12, 2)
			r.Tail = "charging 1,204 accounts\nerror: the bank said no (HTTP 503)\n"
			return r
		}(),
		run("billing", 15, "i-0bbb", ledger.Succeeded, 38, 0),
		run("billing", 20, "i-0bbb", ledger.Succeeded, 41, 0),
		{Key: ledger.Key{Group: "e-abc123", Job: "billing", Tick: min(25)}, Owner: "i-0bbb", State: ledger.Lost,
			Fence: 1, Attempt: 1, Started: min(25), LeaseUntil: min(26)},
		// Found by the next scheduler to start, five minutes later.
		{Key: ledger.Key{Group: "e-abc123", Job: "billing", Tick: min(30)}, Owner: "i-0ccc", State: ledger.Missed,
			Reason: "no scheduler ran", Started: at(35, 2), Finished: at(35, 2)},
		run("billing", 35, "i-0ccc", ledger.Succeeded, 44, 0),
		func() ledger.Record {
			r := run("billing", 37, "i-0ccc", ledger.Succeeded, 20, 0)
			r.Ref = "trigger#t1"
			return r
		}(),
		{Key: ledger.Key{Group: "e-abc123", Job: "billing", Tick: min(40)}, Owner: "i-0ccc", State: ledger.Running,
			Fence: 1, Attempt: 1, Started: min(40), LeaseUntil: min(41)},
		run("cleanup", 0, "i-0aaa", ledger.Succeeded, 2, 0),
		run("cleanup", 10, "i-0aaa", ledger.Succeeded, 3, 0),
		// An operator skipped it ahead of time: nobody ran it.
		{Key: ledger.Key{Group: "e-abc123", Job: "cleanup", Tick: min(20)}, State: ledger.Skipped,
			Reason: "skipped by " + alice + ": bulk import running", Actor: alice, Started: min(12), Finished: min(12)},
		{Key: ledger.Key{Group: "e-abc123", Job: "cleanup", Tick: min(28), Ref: "control#c1"}, State: ledger.ControlRecord,
			Action: "pause", Actor: bob, Detail: "until 2026-03-04T10:33:00Z", Reason: "database migration", Started: min(28), Finished: min(28)},
		{Key: ledger.Key{Group: "e-abc123", Job: "cleanup", Tick: min(30)}, Owner: "i-0bbb", State: ledger.Skipped,
			Reason: "paused by " + bob + ": database migration", Started: min(30), Finished: min(30)},
		func() ledger.Record {
			r := run("cleanup", 35, "i-0ccc", ledger.Succeeded, 5, 0)
			r.Fence, r.Started, r.Finished = 2, min(35).Add(16*time.Second), min(35).Add(21*time.Second)
			return r
		}(),
		{Key: ledger.Key{Group: "e-abc123", Job: "cleanup", Tick: min(40)}, Owner: "i-0ccc", State: "deferred"},
		{Key: ledger.Key{Group: "e-abc123", Job: "", Tick: min(3), Ref: "control#c0"}, State: ledger.ControlRecord,
			Action: "resume", Actor: alice, Reason: "maintenance over", Started: min(3), Finished: min(3)},
	}
	return recs, min(40).Add(30 * time.Second)
}

// hostile looks like markup, with both quotes and an ampersand: job names
// come from crontabs, instance names from the fleet, notes and controls'
// reasons from operators, a failed run's tail from the job's output.
const hostile = `<script>alert(1)</script> "x" 'y' & z`

// hostileOutcome is a ledger whose every value that reaches the page is
// hostile: the group, a job's name, the instances (of a failed run and of
// a move of leadership), a failure's note and output, a missed tick's
// reason, a control's actor, detail and reason, and a state.
func hostileOutcome() ([]ledger.Record, time.Time) {
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	key := func(n int) ledger.Key { return ledger.Key{Group: hostile, Job: hostile, Tick: min(n)} }
	return []ledger.Record{
		{Key: key(0), Owner: hostile, State: ledger.Failed, ExitCode: 1, Attempt: 1, Fence: 1,
			Started: min(0), Finished: min(0).Add(3 * time.Second), Reason: hostile, Tail: hostile + "\n"},
		{Key: key(5), Owner: "i-0bbb", State: ledger.Succeeded, Attempt: 1, Fence: 1, Started: min(5), Finished: min(5).Add(time.Second)},
		{Key: key(10), Owner: "i-0bbb", State: ledger.Missed, Reason: hostile},
		{Key: ledger.Key{Group: hostile, Job: hostile, Tick: min(12), Ref: "control#c1"}, State: ledger.ControlRecord,
			Action: "pause", Actor: hostile, Detail: hostile, Reason: hostile, Started: min(12), Finished: min(12)},
		{Key: key(15), Owner: "i-0bbb", State: ledger.State(hostile)},
	}, min(20)
}
