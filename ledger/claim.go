package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leadergate/leadergate/internal/clock"
)

// Defaults of Ledger.
const (
	DefaultLease  = 60 * time.Second
	DefaultRetain = 30 * 24 * time.Hour
)

// Ledger claims, renews and finishes runs for one instance.
type Ledger struct {
	Store  Store
	Owner  string        // this instance's id
	Clock  clock.Clock   // leases are measured and renewals waited for on it; nil: the system clock
	Lease  time.Duration // DefaultLease when 0
	Retain time.Duration // how long records are kept (TTL); DefaultRetain when 0
	// Timeout bounds each call to the store (a renewal's, a finish's
	// attempt); DefaultTimeout when 0.
	Timeout time.Duration
	Log     *slog.Logger // nil discards
}

// DefaultTimeout bounds one call to the store.
const DefaultTimeout = 5 * time.Second

func (l *Ledger) timeout() time.Duration {
	if l.Timeout > 0 {
		return l.Timeout
	}
	return DefaultTimeout
}

func (l *Ledger) log() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Now is the time on the ledger's clock.
func (l *Ledger) Now() time.Time { return clock.Or(l.Clock).Now() }

func (l *Ledger) lease() time.Duration {
	if l.Lease > 0 {
		return l.Lease
	}
	return DefaultLease
}

func (l *Ledger) retain() time.Duration {
	if l.Retain > 0 {
		return l.Retain
	}
	return DefaultRetain
}

// Outcome is what a claim came to.
type Outcome int

// Outcomes of Claim.
const (
	Won       Outcome = iota // this instance runs the tick
	Taken                    // someone else runs or ran it: do nothing
	LostFound                // the holder died mid-run; it was marked Lost and is not rerun
)

func (o Outcome) String() string {
	switch o {
	case Won:
		return "won"
	case Taken:
		return "taken"
	case LostFound:
		return "lost"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Claim is the answer to "may this instance run the tick now?".
type Claim struct {
	Outcome Outcome
	Run     *Run    // when Won
	Holder  *Record // when Taken or LostFound, if known
}

// ClaimOptions say how to claim.
type ClaimOptions struct {
	// Look first reads the record and creates it only when there is none:
	// what a follower does after the takeover delay (one read when the
	// leader ran it). The leader skips the read: one write.
	Look bool
	// Rerun lets a run lost with its instance run again (fence + 1).
	Rerun bool
	// Watch, with Look, acts on the record only: a missing one is not
	// created (a watch at the end of another's lease, to record it lost,
	// which must never start a run).
	Watch bool
	// Token names this claim across its retries (NewToken): a record
	// found with it is this instance's own write whose answer was lost,
	// and is won, not taken. Empty: a new one.
	Token string
}

// NewToken returns a random claim token.
func NewToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b[:])
}

// Claim tries to take the tick k for this instance. Exactly one caller
// across the fleet wins a tick; the others learn it is taken. A record
// found running with an expired lease was lost: it is marked Lost, or,
// with opts.Rerun, taken over (fence + 1, attempt + 1). An error means
// the ledger could not be asked: nothing may run.
func (l *Ledger) Claim(ctx context.Context, k Key, opts ClaimOptions) (Claim, error) {
	if err := k.Check(); err != nil {
		return Claim{}, err
	}
	k.Tick = k.Tick.UTC().Truncate(time.Second)
	if opts.Token == "" {
		opts.Token = NewToken()
	}
	if opts.Look {
		r, found, err := l.Store.Get(ctx, k)
		if err != nil {
			return Claim{}, err
		}
		if found {
			return l.decide(ctx, r, opts)
		}
		if opts.Watch {
			return Claim{Outcome: Taken}, nil
		}
	}
	now := l.Now()
	r := Record{
		Key: k, Owner: l.Owner, State: Running, Fence: 1, Attempt: 1,
		LeaseUntil: now.Add(l.lease()), Started: now, Expires: l.expires(k, now), Token: opts.Token,
	}
	err := l.Store.Create(ctx, r)
	var c *Conflict
	switch {
	case err == nil:
		return Claim{Outcome: Won, Run: &Run{l: l, rec: r}}, nil
	case errors.As(err, &c):
		h := c.Holder
		if h == nil {
			// Not every server returns the item: read it, for it may be
			// this claim's own write whose answer was lost.
			got, found, err := l.Store.Get(ctx, k)
			if err != nil || !found || got.Token != opts.Token {
				return Claim{Outcome: Taken}, nil
			}
			h = &got
		}
		return l.decide(ctx, *h, opts)
	default:
		return Claim{}, err
	}
}

// Skip records the tick k skipped, with why, unless it has a record (with
// opts.Look, read first): the instance whose turn it was does not run it,
// and nobody takes it over. One write; the Outcome is Taken either way.
func (l *Ledger) Skip(ctx context.Context, k Key, why string, opts ClaimOptions) (Claim, error) {
	if err := k.Check(); err != nil {
		return Claim{}, err
	}
	k.Tick = k.Tick.UTC().Truncate(time.Second)
	if opts.Look {
		r, found, err := l.Store.Get(ctx, k)
		if err != nil {
			return Claim{}, err
		}
		if found {
			return Claim{Outcome: Taken, Holder: &r}, nil
		}
	}
	now := l.Now()
	r := Record{Key: k, Owner: l.Owner, State: Skipped, Fence: 1, Attempt: 1, LeaseUntil: now, Started: now, Finished: now,
		Expires: l.expires(k, now), Token: opts.Token, Reason: why}
	if err := l.Store.Create(ctx, r); err != nil && !IsConflict(err) {
		return Claim{}, err
	}
	return Claim{Outcome: Taken, Holder: &r}, nil
}

// Look says what Claim would come to now, writing nothing: one consistent
// read, for a dry run. Its Run is always nil; Outcome Won means Claim would
// claim the tick (or, with opts.Rerun, rerun the lost run in Holder).
// Another instance may claim it between Look and a Claim.
func (l *Ledger) Look(ctx context.Context, k Key, opts ClaimOptions) (Claim, error) {
	if err := k.Check(); err != nil {
		return Claim{}, err
	}
	k.Tick = k.Tick.UTC().Truncate(time.Second)
	r, found, err := l.Store.Get(ctx, k)
	switch {
	case err != nil:
		return Claim{}, err
	case !found:
		return Claim{Outcome: Won}, nil
	case !r.Expired(l.Now()):
		return Claim{Outcome: Taken, Holder: &r}, nil
	case opts.Rerun:
		return Claim{Outcome: Won, Holder: &r}, nil
	}
	return Claim{Outcome: LostFound, Holder: &r}, nil
}

func (l *Ledger) expires(k Key, now time.Time) time.Time {
	t := k.Tick
	if now.After(t) {
		t = now
	}
	return t.Add(l.retain())
}

// decide acts on a record found in place.
func (l *Ledger) decide(ctx context.Context, r Record, opts ClaimOptions) (Claim, error) {
	now := l.Now()
	if r.Owner == l.Owner && r.Token == opts.Token && r.State == Running {
		// This claim's own write, answered too late or not at all.
		return Claim{Outcome: Won, Run: &Run{l: l, rec: r}}, nil
	}
	if !r.Expired(now) {
		return Claim{Outcome: Taken, Holder: &r}, nil
	}
	if opts.Rerun {
		next := r
		next.Owner, next.Fence, next.Attempt = l.Owner, r.Fence+1, r.Attempt+1
		next.LeaseUntil, next.Started, next.Finished, next.ExitCode = now.Add(l.lease()), now, time.Time{}, 0
		next.Expires, next.Tail, next.Token = l.expires(r.Key, now), "", opts.Token
		switch err := l.swap(ctx, r, next); {
		case err == nil:
			return Claim{Outcome: Won, Run: &Run{l: l, rec: next, Rerun: &r}}, nil
		case IsConflict(err):
			return Claim{Outcome: Taken, Holder: &r}, nil // another instance reran it first
		default:
			return Claim{}, err
		}
	}
	lost := r
	lost.State = Lost
	switch err := l.swap(ctx, r, lost); {
	case err == nil:
		return Claim{Outcome: LostFound, Holder: &lost}, nil
	case IsConflict(err):
		return Claim{Outcome: Taken, Holder: &r}, nil // marked or finished meanwhile
	default:
		return Claim{}, err
	}
}

// swap is Store.Swap that takes a refusal by its own write for success:
// a retry after an answer that was lost finds prev gone and next in place.
func (l *Ledger) swap(ctx context.Context, prev, next Record) error {
	err := l.Store.Swap(ctx, prev, next)
	var c *Conflict
	if !errors.As(err, &c) {
		return err
	}
	h := c.Holder
	if h == nil {
		got, found, gerr := l.Store.Get(ctx, next.Key)
		if gerr != nil || !found {
			return err
		}
		h = &got
	}
	if next.Owner == l.Owner && h.Owner == next.Owner && h.Fence == next.Fence && h.State == next.State && h.Token == next.Token &&
		h.LeaseUntil.Equal(next.LeaseUntil) {
		return nil
	}
	return err
}

// Run is a claimed tick, held by this instance.
type Run struct {
	l     *Ledger
	rec   Record
	Rerun *Record // the lost attempt this run replaces, if any
	tail  string  // SetTail's, written by a failed Finish
}

// SetTail gives the end of the run's output, for Finish to keep when the
// run failed: its last MaxTail bytes, cut where a character starts.
func (r *Run) SetTail(out []byte) {
	if len(out) > MaxTail {
		out = out[len(out)-MaxTail:]
		for len(out) > 0 && !utf8.RuneStart(out[0]) {
			out = out[1:]
		}
	}
	r.tail = strings.ToValidUTF8(string(out), "\uFFFD")
}

// Record is the run's record as last written.
func (r *Run) Record() Record { return r.rec }

// RunID is the run's id (LEADERGATE_RUN_ID).
func (r *Run) RunID() string { return r.rec.RunID() }

// Fence is the run's fence (LEADERGATE_FENCE): 1 at the first claim, +1
// at every takeover.
func (r *Run) Fence() int64 { return r.rec.Fence }

// RenewEvery is how often the lease is renewed while the job may stop
// within grace: a third of the lease, or more often when the lease minus
// grace (the time renewals have before the job must be stopped) is short,
// so that a renewal can fail and be retried before the job is stopped.
func (r *Run) RenewEvery(grace time.Duration) time.Duration {
	return max(min(r.l.lease()/3, (r.l.lease()-grace)/3), 10*time.Millisecond)
}

// Renew extends the lease. A *Conflict means the tick was taken over: stop
// the job at once. Another error means the ledger could not be reached: the
// job may go on until LeaseUntil, not after.
func (r *Run) Renew(ctx context.Context) error {
	next := r.rec
	next.LeaseUntil = r.l.Now().Add(r.l.lease())
	if err := r.l.swap(ctx, r.rec, next); err != nil {
		return err
	}
	r.rec = next
	return nil
}

// Finish records the end of the run with the job's exit code.
func (r *Run) Finish(ctx context.Context, exitCode int) error {
	next := r.rec
	next.State, next.ExitCode, next.Finished, next.Tail = Succeeded, exitCode, r.l.Now(), ""
	if exitCode != 0 {
		next.State, next.Tail = Failed, r.tail
	}
	if err := r.l.swap(ctx, r.rec, next); err != nil {
		return err
	}
	r.rec = next
	return nil
}

// Release lets the claim go without recording an end: the lease ends now,
// so the run reads as lost (Record.AsOf) and the next instance to look
// records it lost, or reruns it for a job that may run twice. For a run
// stopped by shutdown or a drain, which did not do its work.
func (r *Run) Release(ctx context.Context) error {
	next := r.rec
	next.LeaseUntil = r.l.Now().Add(-time.Millisecond)
	if err := r.l.swap(ctx, r.rec, next); err != nil {
		return err
	}
	r.rec = next
	return nil
}
