package ledger

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// State is where a run stands.
type State string

// States of a record.
const (
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Lost      State = "lost" // its lease ran out while running: the instance died mid-job
	// Skipped: the tick was not run, on purpose; Reason says why (a pause,
	// an operator's skip, or the job's previous run still running on the
	// instance whose turn it was: its overlap rule, made fleet-wide).
	// Nobody claims it afterwards.
	Skipped State = "skipped"
	// Missed: nobody ran the tick and nobody recorded why (every scheduler
	// was down across it); the next scheduler found it and reported it.
	Missed State = "missed"
	// ControlRecord: not a run but an operator's control (pause, trigger, ...)
	// kept for the audit: Action, Actor, Reason say what, who and why.
	ControlRecord State = "control"
	// Released: a service's lease given back by its holder (see [Lease.Release]).
	Released State = "released"
)

// Final reports a state nobody changes except by a rerun.
func (s State) Final() bool { return s != Running && s != ControlRecord }

// MaxTail is the most output a failed run's record keeps: 4 KiB, which
// makes its finish cost up to 5 write units instead of 1 (DynamoDB counts
// 1 KB per unit); a run that succeeded keeps none.
const MaxTail = 4 << 10

// Limits of a key. DynamoDB allows 2,048 bytes in a partition key; an EC2 tag
// value is at most 256 characters, and a job name this long is a mistake.
const (
	MaxGroup = 256
	MaxJob   = 512
)

// Key names one scheduled run: a job of a group at its nominal tick.
type Key struct {
	Group string
	Job   string
	Tick  time.Time // the schedule's time, not the clock's; stored to the second, UTC
	// Ref is empty for a scheduled tick. A triggered run ("trigger#ID")
	// and an audit entry ("control#ID") add it to the sort key after the
	// time: it can never equal a tick's, and it sorts with the ticks of
	// its second, so history lists them in time order with one Query.
	Ref string
}

// TickFormat is how a tick is written in the table and in history: sorting
// the strings sorts the times.
const TickFormat = "2006-01-02T15:04:05Z"

// TickString is the sort key: the tick, then "#" and Ref if any.
func (k Key) TickString() string {
	if k.Ref != "" {
		return k.Tick.UTC().Format(TickFormat) + "#" + k.Ref
	}
	return k.Tick.UTC().Format(TickFormat)
}

// parseSortKey is TickString's inverse.
func parseSortKey(sk string) (tick time.Time, ref string, err error) {
	t, ref, _ := strings.Cut(sk, "#")
	tick, err = time.Parse(TickFormat, t)
	return tick, ref, err
}

// Partition is the partition key: the group and the job, so that one Query
// reads a job's history.
func (k Key) Partition() string { return k.Group + "#" + k.Job }

func (k Key) String() string {
	if k.Untimed() {
		return k.Job
	}
	return k.Job + "@" + k.TickString()
}

// Check reports a key that cannot be stored.
func (k Key) Check() error {
	switch {
	case k.Group == "":
		return errors.New("ledger: the group is empty")
	case k.Job == "":
		return errors.New("ledger: the job name is empty")
	case len(k.Group) > MaxGroup:
		return fmt.Errorf("ledger: group %.20q... is %d bytes, more than %d", k.Group, len(k.Group), MaxGroup)
	case len(k.Job) > MaxJob:
		return fmt.Errorf("ledger: job name %.20q... is %d bytes, more than the ledger's %d; give the job a shorter name (--job, or # name:)", k.Job, len(k.Job), MaxJob)
	case !utf8.ValidString(k.Group) || !utf8.ValidString(k.Job):
		return errors.New("ledger: the group or job name is not valid UTF-8")
	case k.Tick.IsZero():
		return errors.New("ledger: the tick is zero")
	case strings.HasSuffix(k.Job, "#"):
		// The group's own partition ("group#") holds its controls, which
		// the instance policy keeps instances from writing by that suffix.
		return fmt.Errorf("ledger: job name %.40q ends with '#'; give the job another name (--job, or # name:)", k.Job)
	}
	return nil
}

// Record is the stored state of one run.
type Record struct {
	Key
	Owner      string    // the instance that runs (or ran) it
	State      State     //
	Fence      int64     // 1 at the first claim, +1 at every takeover
	Attempt    int       // 1 at the first claim, +1 at every rerun
	LeaseUntil time.Time // while Running: others may take over after this
	ExitCode   int       // when Succeeded or Failed
	Started    time.Time
	Finished   time.Time // zero while Running or when Lost
	Expires    time.Time // the TTL: the store may delete the record after this
	// Tail is the end of a failed run's output (stdout and stderr as they
	// came), at most MaxTail bytes; empty for a run that succeeded, so that
	// its finish stays one write unit (an item up to 1 KB).
	Tail string
	// Reason says why a tick was Skipped or Missed, or why a control was
	// given; Actor who gave it (the caller's ARN, from STS); Action which
	// control (pause, resume, trigger, skip, backfill, rerun) and Detail
	// its arguments, for a Control record.
	Reason, Actor, Action, Detail string
	// Request is the operator's request this run answers (a rerun's or a
	// backfill's id), so that a request is served once.
	Request string
	// Token is random per claim (and per rerun): a writer whose answer was
	// lost recognises its own write by it when it asks again.
	Token string
}

// RunID names this attempt of the run, for logs and LEADERGATE_RUN_ID.
func (r Record) RunID() string {
	if r.Untimed() {
		return r.Partition() + "/" + strconv.FormatInt(r.Fence, 10)
	}
	return r.Partition() + "@" + r.TickString() + "/" + strconv.FormatInt(r.Fence, 10)
}

// Expired reports a Running record whose lease has run out at now: its owner
// is gone, or could not renew and has stopped its job.
func (r Record) Expired(now time.Time) bool {
	return r.State == Running && now.After(r.LeaseUntil)
}

// AsOf is the record as a reader should take it at now: a Running record
// whose lease has run out is Lost (its instance died mid-job, or could not
// renew and stopped it), whether or not anyone has written that yet. In
// prefix mode nobody looks at a tick again once it is taken, so history
// relies on this rather than on a write that may never come.
func (r Record) AsOf(now time.Time) Record {
	if r.Expired(now) {
		r.State = Lost
	}
	return r
}

// Duration is how long the run took, or has been running at now.
func (r Record) Duration(now time.Time) time.Duration {
	end := r.Finished
	if end.IsZero() {
		if r.State != Running {
			return 0
		}
		end = now
	}
	if end.Before(r.Started) {
		return 0
	}
	return end.Sub(r.Started)
}
