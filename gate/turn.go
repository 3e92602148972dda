package gate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// Turn is a tick ledger as run and schedule take their turn at a tick: one
// seam, implemented by package ledger (ledger.Turn) and by fakes in tests.
// The Authority's answer says who tries first; the Turn waits for this
// instance's turn, claims the tick with a conditional write, and hands back
// the claim to hold while the job runs. Exactly one instance of the fleet
// gets a Held for a tick.
type Turn interface {
	// Take waits for this instance's turn at req.Job.Tick and claims it.
	// A Claim without Held means the tick is not this instance's to run
	// (Why says whose it is). An error means the ledger could not be
	// asked: nothing may run, and its ExitCode says why (75 when none).
	// When ctx ends while waiting, Take returns context.Cause(ctx).
	Take(ctx context.Context, req TurnRequest) (Claim, error)
	// Look says what Take would come to now, waiting for and writing
	// nothing: for a dry run. Its Claim never has a Held.
	Look(ctx context.Context, req TurnRequest) (Claim, error)
}

// TurnRequest is one tick to take.
type TurnRequest struct {
	Job Job // its name and nominal tick: the ledger's key
	// Leader is the Authority's hint: true claims at the tick, false (a
	// follower, or an election that failed) after the takeover delay.
	Leader bool
	// RerunLost lets a run lost with its instance run again here
	// ("# on-lost: rerun", --on-lost rerun); else it is recorded lost.
	RerunLost bool
	// Jitter is the bound of the job's random delay ("# jitter:"): the
	// leader waits a random time below it before claiming, the others
	// wait it out on top of the takeover delay.
	Jitter time.Duration
	// Watch stays with a tick found running elsewhere until its lease ends,
	// to record its run lost, or rerun it, if its instance died: what a
	// scheduler does. Without it (run's prefix mode), Take returns at once.
	Watch bool
	// Recover acts at once on a record found running: watch its lease and
	// rerun or record it lost (never creating a record), as for a run
	// found lost at start.
	Recover bool
	// Slot is this instance's overlap guard, taken just before the claim
	// is written. When it is busy (the previous run still runs here) the
	// tick is recorded skipped, so that no other instance takes it over.
	Slot Slot
}

// Slot is an overlap guard: Take reports whether it was free and is now
// held; Release gives it back. Nil functions mean always free.
type Slot struct {
	Take    func() bool
	Release func()
}

// TryTake takes the slot: Take, or true when there is none.
func (s Slot) TryTake() bool { return s.Take == nil || s.Take() }

// Give gives the slot back: Release, when there is one.
func (s Slot) Give() {
	if s.Release != nil {
		s.Release()
	}
}

// Results of a Turn (Claim.Result), the "result" label of the ticks
// claimed metric.
const (
	// ClaimWon: the leader claimed the tick, at its turn.
	ClaimWon = "won"
	// ClaimTakenOver: this instance claimed a tick it was not first to
	// claim: as a follower (or with its election failed) after the
	// takeover delay, or to rerun a run lost with its instance.
	ClaimTakenOver = "taken_over"
	// ClaimTakenElsewhere: another instance holds, held or skipped the
	// tick (a run of it found lost and recorded lost included).
	ClaimTakenElsewhere = "taken_elsewhere"
)

// Claim is a Turn's answer for one tick.
type Claim struct {
	// Held is the claimed tick, for this instance to run; nil: it is not.
	Held Held
	// Result is ClaimWon or ClaimTakenOver with Held, ClaimTakenElsewhere
	// without; empty when nothing was decided (shutdown, or the tick was
	// recorded skipped because the previous run still runs here).
	Result string
	// Why is what happened, for -v and logs: whose the tick is, what was
	// claimed, or why it was skipped.
	Why string
	// Busy: the previous run still runs here; nothing runs.
	Busy bool
	// Skipped is why this instance recorded the tick skipped (the previous
	// run still runs here); empty when it did not.
	Skipped string
	// Lost is the tick's earlier run, found lost with its instance (its
	// lease ran out) and recorded lost, or rerun by this claim.
	Lost *LostRun
}

// LostRun is a run found lost with its instance.
type LostRun struct {
	RunID   string
	Attempt int
	Owner   string // the instance it was lost on
}

// Held is a tick claimed by this instance.
type Held interface {
	// RunID and Fence name the claimed run: the job sees them as
	// LEADERGATE_RUN_ID and LEADERGATE_FENCE (see [JobEnv]).
	RunID() string
	Fence() int64
	// Hold keeps the claim while the job runs. grace is the job's time
	// between SIGTERM and SIGKILL: held is cancelled when the claim is
	// lost, and early enough, when renewals do not get through, that the
	// job stopped then is gone by the time the lease ends. finish records
	// the end, or says why it could not.
	Hold(ctx context.Context, grace time.Duration) (held context.Context, finish func(End) error)
}

// End is how a held run ended.
type End struct {
	Code int // the exit code recorded
	// Stopped: the run was stopped by shutdown or a drain, not by itself:
	// the claim is let go, so that the tick counts as lost (and is rerun
	// for a job that may run twice), rather than recorded failed.
	Stopped bool
}

// RunEnv names one run as the job, logs, hooks, pings and history see it.
type RunEnv struct {
	Job     string
	Tick    time.Time // the nominal tick, in the zone the job's schedule is read in; zero: none
	RunID   string
	Attempt int   // 1, then 2... for retries; 0 leaves LEADERGATE_ATTEMPT out
	Fence   int64 // the ledger's fence; 0 (no ledger) leaves LEADERGATE_FENCE out
}

// Env is the one place a job's LEADERGATE_* variables are built.
func (e RunEnv) Env() []string {
	env := []string{"LEADERGATE_JOB=" + e.Job}
	if !e.Tick.IsZero() { // a deploy task has no tick
		env = append(env, "LEADERGATE_SCHEDULED_AT="+e.Tick.Format(time.RFC3339))
	}
	env = append(env, "LEADERGATE_RUN_ID="+e.RunID)
	if e.Attempt > 0 {
		env = append(env, "LEADERGATE_ATTEMPT="+strconv.Itoa(e.Attempt))
	}
	if e.Fence > 0 {
		env = append(env, "LEADERGATE_FENCE="+strconv.FormatInt(e.Fence, 10))
	}
	return env
}

// NewRunID returns a new random run id, as in LEADERGATE_RUN_ID of a run
// that holds no ledger claim.
func NewRunID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; a clock-based id still
		// tells runs apart if it ever does.
		return fmt.Sprintf("t%x", time.Now().UnixNano())
	}
	return hex.EncodeToString(b[:])
}
