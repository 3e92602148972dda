package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
)

// Controls are an operator's orders to the fleet, kept in the ledger: pause
// and resume a job (or the whole group), trigger a run now, rerun a past
// tick, backfill ticks nobody ran. Skip needs no control: it records the
// tick skipped before anyone claims it.
//
// Every control of a group is an item of the group's own partition
// ("group#", which no job's can be: a job name is never empty), so a
// scheduler reads all of them with one Query per tick batch. Instances only
// read them: a run a control asks for is claimed like a tick, in the job's
// partition, so it runs once whichever instances see the control.

// ControlKind is what a control asks.
type ControlKind string

// Kinds of controls.
const (
	PauseControl    ControlKind = "pause"    // the job's ticks (the group's, for Job "") are skipped from At
	TriggerControl  ControlKind = "trigger"  // one run of Job now
	RerunControl    ControlKind = "rerun"    // Ticks[0] of Job again, as a new attempt
	BackfillControl ControlKind = "backfill" // each of Ticks of Job that never ran, oldest first
)

// RequestWindow is how long a trigger, rerun or backfill waits to be taken
// up: a request no scheduler started within it (none ran) is dropped, not
// run hours later by surprise. `trigger --wait` says so.
const RequestWindow = time.Hour

// MaxBackfill caps the ticks of one backfill.
const MaxBackfill = 100

// Control is one control of a group.
type Control struct {
	Group string
	Kind  ControlKind
	Job   string    // "" with PauseControl: the whole group
	ID    string    // a request's id (not a pause's)
	At    time.Time // when it was given
	Actor string    // who gave it: the caller's ARN
	// Reason is why it was given.
	Reason string
	// Until, for a pause, is when it lifts by itself; zero: at a resume.
	Until time.Time
	// Ended, for a pause, is when a resume lifted it, EndedBy who and
	// EndReason why; zero while it holds.
	Ended              time.Time
	EndedBy, EndReason string
	Ticks              []time.Time // RerunControl: one; BackfillControl: oldest first
	Expires            time.Time   // the TTL
}

// sortKey is the control's sort key in the group's partition.
func (c Control) sortKey() string {
	switch c.Kind {
	case PauseControl:
		return "control#pause#" + c.Job
	default:
		return "control#" + string(c.Kind) + "#" + c.At.UTC().Format(TickFormat) + "#" + c.ID
	}
}

// controlPrefix starts every control's sort key.
const controlPrefix = "control#"

// Holds reports whether a pause c covers tick: a pause affects every tick
// at or after the moment it was given, until it lifts.
func (c Control) Holds(tick time.Time) bool {
	return c.Kind == PauseControl && !tick.Before(c.At.Truncate(time.Second)) &&
		(c.Until.IsZero() || tick.Before(c.Until)) && (c.Ended.IsZero() || tick.Before(c.Ended))
}

// RunKey is the key of the run a trigger asks for: the job's partition, at
// the moment of the trigger, with a Ref no tick has.
func (c Control) RunKey() Key {
	return Key{Group: c.Group, Job: c.Job, Tick: c.At.UTC().Truncate(time.Second), Ref: "trigger#" + c.ID}
}

// Describe is a control in a few words, for logs, status and history.
func (c Control) Describe() string {
	var b strings.Builder
	switch c.Kind {
	case PauseControl:
		b.WriteString("paused")
		if !c.Until.IsZero() {
			b.WriteString(" until " + c.Until.UTC().Format(TickFormat))
		}
	case TriggerControl:
		b.WriteString("triggered")
	case RerunControl:
		b.WriteString("rerun of " + ticksString(c.Ticks))
	case BackfillControl:
		b.WriteString(fmt.Sprintf("backfill of %d ticks (%s)", len(c.Ticks), ticksString(c.Ticks)))
	}
	b.WriteString(" by " + orUnknown(c.Actor) + " at " + c.At.UTC().Format(TickFormat))
	if c.Reason != "" {
		b.WriteString(": " + c.Reason)
	}
	return b.String()
}

func ticksString(ts []time.Time) string {
	switch len(ts) {
	case 0:
		return "no tick"
	case 1:
		return ts[0].UTC().Format(TickFormat)
	}
	return ts[0].UTC().Format(TickFormat) + " ... " + ts[len(ts)-1].UTC().Format(TickFormat)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// ControlStore is the storage of controls and the fleet's cheap reads;
// [DynamoDB] and [Memory] implement it.
type ControlStore interface {
	// Controls lists the controls of group with one consistent Query.
	Controls(ctx context.Context, group string) ([]Control, error)
	// PutControl writes c, replacing a control of the same key.
	PutControl(ctx context.Context, c Control) error
	// EndPause lifts the pause of job ("" for the group's) at ended, by
	// whom and why; found is false when there is no pause to lift.
	EndPause(ctx context.Context, group, job string, ended time.Time, by, reason string) (found bool, err error)
	// TakenAt lists the jobs of group that have a record at tick, with one
	// eventually consistent read: a record written a moment ago may be
	// missing, never the reverse.
	TakenAt(ctx context.Context, group string, tick time.Time) (map[string]bool, error)
}

// ControlSet is the controls of a group as read at one moment: what a
// scheduler decides a tick batch with.
type ControlSet struct {
	Items []Control
}

// Paused returns the pause that covers job's tick, the job's own or the
// group's, if any.
func (s ControlSet) Paused(job string, tick time.Time) (Control, bool) {
	for _, c := range s.Items {
		if c.Kind == PauseControl && (c.Job == job || c.Job == "") && c.Holds(tick) {
			return c, true
		}
	}
	return Control{}, false
}

// Pauses returns the pauses in force at now (lifted ones left out).
func (s ControlSet) Pauses(now time.Time) []Control {
	var out []Control
	for _, c := range s.Items {
		if c.Kind == PauseControl && c.Ended.IsZero() && (c.Until.IsZero() || now.Before(c.Until)) {
			out = append(out, c)
		}
	}
	return out
}

// Requests returns the triggers, reruns and backfills given within
// RequestWindow before now, oldest first.
func (s ControlSet) Requests(now time.Time) []Control {
	var out []Control
	for _, c := range s.Items {
		if c.Kind != PauseControl && !c.At.Before(now.Add(-RequestWindow)) {
			out = append(out, c)
		}
	}
	// sort.Slice, not slices.SortFunc: a generic sort compiles a copy of
	// itself for each struct type (10 to 20 KB), and the binary every cron
	// line starts must stay under 16 MiB.
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Ticks returns the ticks of next after from and at or before to, oldest
// first, at most limit; more reports that there were more.
func Ticks(next func(time.Time) time.Time, from, to time.Time, limit int) (ticks []time.Time, more bool) {
	t := next(from)
	for i := 0; i < maxCatchUpSteps && !t.IsZero() && !t.After(to); i++ {
		if len(ticks) == limit {
			return ticks, true
		}
		ticks = append(ticks, t)
		t = next(t)
	}
	return ticks, false
}

// NewID returns a random request id: 8 bytes, hex.
func NewID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("t%x", time.Now().UnixNano())
	}
	return hex.EncodeToString(b[:])
}

// Operator gives controls, as a person with the operator's role does from
// a laptop. Every control is recorded twice: the control itself (what the
// schedulers obey) and an audit record in the job's history (State
// ControlRecord: who, when, why), which history lists among the runs.
type Operator struct {
	Store    Store
	Controls ControlStore
	Actor    string      // the caller's ARN, from STS GetCallerIdentity
	Clock    clock.Clock // nil: the system clock
	Retain   time.Duration
}

func (o *Operator) now() time.Time { return clock.Or(o.Clock).Now().UTC() }

func (o *Operator) retain() time.Duration {
	if o.Retain > 0 {
		return o.Retain
	}
	return DefaultRetain
}

// audit records a control in the history of its job (or of the group).
func (o *Operator) audit(ctx context.Context, group, job, action, detail, reason string, at time.Time) error {
	r := Record{
		Key:   Key{Group: group, Job: job, Tick: at.Truncate(time.Second), Ref: "control#" + NewID()},
		State: ControlRecord, Actor: o.Actor, Action: action, Detail: detail, Reason: reason,
		Started: at, Finished: at, Expires: at.Add(o.retain()),
	}
	if err := o.Store.Create(ctx, r); err != nil {
		return fmt.Errorf("the %s was given but its audit record could not be written: %w", action, err)
	}
	return nil
}

func checkJob(group, job string) error {
	if job == "" {
		return errors.New("ledger: the job name is empty")
	}
	return Key{Group: group, Job: job, Tick: time.Unix(1, 0)}.Check()
}

// Pause pauses job (the whole group when job is ""), until until (zero:
// until a resume). Two writes: the control and its audit record.
func (o *Operator) Pause(ctx context.Context, group, job string, until time.Time, reason string) (Control, error) {
	if job != "" {
		if err := checkJob(group, job); err != nil {
			return Control{}, err
		}
	}
	now := o.now()
	if !until.IsZero() && !until.After(now) {
		return Control{}, fmt.Errorf("ledger: the pause would end at %s, which has passed", until.UTC().Format(TickFormat))
	}
	c := Control{Group: group, Kind: PauseControl, Job: job, At: now, Actor: o.Actor, Reason: reason, Until: until}
	if !until.IsZero() {
		c.Expires = until.Add(o.retain())
	}
	if err := o.Controls.PutControl(ctx, c); err != nil {
		return Control{}, err
	}
	detail := ""
	if !until.IsZero() {
		detail = "until " + until.UTC().Format(TickFormat)
	}
	return c, o.audit(ctx, group, job, "pause", detail, reason, now)
}

// Resume lifts the pause of job (of the group when job is ""); paused is
// false when there was none (nothing is written then).
func (o *Operator) Resume(ctx context.Context, group, job, reason string) (paused bool, err error) {
	now := o.now()
	found, err := o.Controls.EndPause(ctx, group, job, now, o.Actor, reason)
	if err != nil || !found {
		return false, err
	}
	return true, o.audit(ctx, group, job, "resume", "", reason, now)
}

// request writes a trigger, rerun or backfill.
func (o *Operator) request(ctx context.Context, c Control, detail string) (Control, error) {
	if err := checkJob(c.Group, c.Job); err != nil {
		return Control{}, err
	}
	c.At, c.ID, c.Actor = o.now(), NewID(), o.Actor
	c.Expires = c.At.Add(o.retain())
	if err := o.Controls.PutControl(ctx, c); err != nil {
		return Control{}, err
	}
	return c, o.audit(ctx, c.Group, c.Job, string(c.Kind), detail, c.Reason, c.At)
}

// Trigger asks for one run of job now, on whichever instance leads. Its
// run's key is the control's RunKey.
func (o *Operator) Trigger(ctx context.Context, group, job, reason string) (Control, error) {
	return o.request(ctx, Control{Group: group, Kind: TriggerControl, Job: job, Reason: reason}, "")
}

// Rerun asks for tick of job to run again, as a new attempt with a new
// fence. The tick must have ended (a run still running is refused).
func (o *Operator) Rerun(ctx context.Context, group, job string, tick time.Time, reason string) (Control, error) {
	k := Key{Group: group, Job: job, Tick: tick.UTC().Truncate(time.Second)}
	if err := k.Check(); err != nil {
		return Control{}, err
	}
	r, found, err := o.Store.Get(ctx, k)
	if err != nil {
		return Control{}, err
	}
	if found && r.AsOf(o.now()).State == Running {
		return Control{}, fmt.Errorf("ledger: %s is still running on %s: rerun it once it has ended", k, r.Owner)
	}
	return o.request(ctx, Control{Group: group, Kind: RerunControl, Job: job, Reason: reason, Ticks: []time.Time{k.Tick}}, "tick "+k.TickString())
}

// Backfill asks for each of ticks of job that never ran (no record, or one
// recorded missed) to run once, oldest first, one at a time.
func (o *Operator) Backfill(ctx context.Context, group, job string, ticks []time.Time, reason string) (Control, error) {
	if len(ticks) == 0 {
		return Control{}, errors.New("ledger: no tick to backfill")
	}
	if len(ticks) > MaxBackfill {
		return Control{}, fmt.Errorf("ledger: %d ticks to backfill, more than %d", len(ticks), MaxBackfill)
	}
	ts := slices.Clone(ticks)
	for i := range ts {
		ts[i] = ts[i].UTC().Truncate(time.Second)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) }) // not generic: see Requests
	return o.request(ctx, Control{Group: group, Kind: BackfillControl, Job: job, Reason: reason, Ticks: ts},
		fmt.Sprintf("%d ticks: %s", len(ts), ticksString(ts)))
}

// Unrun returns the ticks among ticks of job that a backfill would run now:
// no record, or one recorded missed. One consistent read per tick.
func (o *Operator) Unrun(ctx context.Context, group, job string, ticks []time.Time) ([]time.Time, error) {
	var out []time.Time
	for _, t := range ticks {
		r, found, err := o.Store.Get(ctx, Key{Group: group, Job: job, Tick: t.UTC().Truncate(time.Second)})
		if err != nil {
			return nil, err
		}
		if !found || r.State == Missed {
			out = append(out, t)
		}
	}
	return out, nil
}

// Skip records tick of job skipped before anyone claims it, so no instance
// runs it. A tick already claimed (or ended) is a *Conflict naming it.
func (o *Operator) Skip(ctx context.Context, group, job string, tick time.Time, reason string) error {
	k := Key{Group: group, Job: job, Tick: tick.UTC().Truncate(time.Second)}
	if err := k.Check(); err != nil {
		return err
	}
	now := o.now()
	why := "skipped by " + orUnknown(o.Actor)
	if reason != "" {
		why += ": " + reason
	}
	r := Record{Key: k, State: Skipped, Reason: why, Actor: o.Actor, Started: now, Finished: now, Expires: o.expires(k, now)}
	if err := o.Store.Create(ctx, r); err != nil {
		return err
	}
	return o.audit(ctx, group, job, "skip", "tick "+k.TickString(), reason, now)
}

func (o *Operator) expires(k Key, now time.Time) time.Time {
	t := k.Tick
	if now.After(t) {
		t = now
	}
	return t.Add(o.retain())
}

// Note records tick k as not run, with state Skipped or Missed and why,
// unless it has a record: won is false when someone else recorded or
// claimed it first. A scheduler records a paused tick skipped, and the next
// scheduler a tick nobody ran missed; the one whose write wins reports it,
// so it is reported once.
func (l *Ledger) Note(ctx context.Context, k Key, state State, reason string) (won bool, err error) {
	if err := k.Check(); err != nil {
		return false, err
	}
	k.Tick = k.Tick.UTC().Truncate(time.Second)
	now := l.Now()
	r := Record{Key: k, Owner: l.Owner, State: state, Reason: reason, Started: now, Finished: now, Expires: l.expires(k, now)}
	switch err := l.Store.Create(ctx, r); {
	case err == nil:
		return true, nil
	case IsConflict(err):
		return false, nil
	default:
		return false, err
	}
}

// ClaimRequest claims the run a trigger, rerun or backfill asks for, at
// tick (the trigger's run key's, a rerun's tick, one backfill tick), as
// Claim claims a tick: exactly one instance wins it. A trigger's run is
// created under its own key. A rerun replaces the tick's ended record
// (fence + 1, attempt + 1) once per request; a backfill creates a tick that
// has no record or replaces one recorded missed. Taken means there is
// nothing (more) to do for that tick.
//
// token names the claim across its retries (NewToken; empty: a new one),
// so that a write whose answer was lost is recognised as this claim's own.
func (l *Ledger) ClaimRequest(ctx context.Context, c Control, tick time.Time, token string) (Claim, error) {
	if token == "" {
		token = NewToken()
	}
	if c.Kind == TriggerControl {
		return l.Claim(ctx, c.RunKey(), ClaimOptions{Token: token})
	}
	k := Key{Group: c.Group, Job: c.Job, Tick: tick.UTC().Truncate(time.Second)}
	if err := k.Check(); err != nil {
		return Claim{}, err
	}
	now := l.Now()
	fresh := Record{
		Key: k, Owner: l.Owner, State: Running, Fence: 1, Attempt: 1, Request: c.ID,
		LeaseUntil: now.Add(l.lease()), Started: now, Expires: l.expires(k, now), Token: token,
	}
	prev, found, err := l.Store.Get(ctx, k)
	if err != nil {
		return Claim{}, err
	}
	if found && prev.Owner == l.Owner && prev.Token == token && prev.State == Running {
		return Claim{Outcome: Won, Run: &Run{l: l, rec: prev}}, nil // this claim's own write, answered too late
	}
	if !found {
		switch err := l.Store.Create(ctx, fresh); {
		case err == nil:
			return Claim{Outcome: Won, Run: &Run{l: l, rec: fresh}}, nil
		case IsConflict(err):
			return Claim{Outcome: Taken}, nil
		default:
			return Claim{}, err
		}
	}
	switch {
	case prev.Request == c.ID, // served already
		prev.AsOf(now).State == Running, // not ended yet: a rerun waits for the next batch
		c.Kind == BackfillControl && prev.State != Missed:
		return Claim{Outcome: Taken, Holder: &prev}, nil
	}
	next := fresh
	next.Fence, next.Attempt = prev.Fence+1, prev.Attempt+1
	switch err := l.Store.Swap(ctx, prev, next); {
	case err == nil:
		return Claim{Outcome: Won, Run: &Run{l: l, rec: next}}, nil
	case IsConflict(err):
		return Claim{Outcome: Taken, Holder: &prev}, nil
	default:
		return Claim{}, err
	}
}

// NewestTick returns the newest scheduled tick of job that has a record,
// at or after since and at or before until (zero when none): triggered
// runs and controls, whose records sort with the ticks, are passed over,
// and so are the ticks after until (run since by a scheduler that looks
// back now). One Query.
func (l *Ledger) NewestTick(ctx context.Context, group, job string, since, until time.Time) (time.Time, error) {
	recs, err := l.Store.Recent(ctx, group, job, since, 200)
	if err != nil {
		return time.Time{}, err
	}
	for _, r := range recs {
		if r.Ref == "" && !r.Tick.After(until) {
			return r.Tick, nil
		}
	}
	return time.Time{}, nil
}

// Unrecorded returns the ticks of next after newest (the job's newest
// recorded tick) and at or before until, newest last: the ticks nobody ran
// and nobody recorded a reason for, once until is late enough that any
// scheduler alive would have claimed them. At most limit, the newest ones;
// more counts those left out. A job with no record (new, or its records
// expired) has none: nothing says it was scheduled then.
func Unrecorded(next func(time.Time) time.Time, newest, until time.Time, limit int) (ticks []time.Time, more int) {
	if newest.IsZero() || !until.After(newest) {
		return nil, 0
	}
	all, _ := Ticks(next, newest, until, maxCatchUpSteps)
	if len(all) > limit {
		return all[len(all)-limit:], len(all) - limit
	}
	return all, 0
}
