package elect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
)

// Config is how an Elector elects. The zero value is not useful: use
// Validate to catch bad combinations before anything runs.
type Config struct {
	// GroupTags are the tags whose value on this instance names its group,
	// tried in order (default DefaultGroupTags).
	GroupTags []string
	// Group, when set, is the group's value for GroupTags[0]: no discovery.
	Group string
	// Marker is the legacy marker file kept in step with the verdict.
	Marker Marker
	// MaxAge is how long a verdict is reused; 0 elects every time.
	MaxAge time.Duration
	// StaleOK accepts a verdict up to this old when an election fails.
	StaleOK time.Duration
	// Timeout bounds one decision, waiting for the lock included.
	Timeout time.Duration
	// NoTag leaves the leader tag alone.
	NoTag bool
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case len(c.GroupTags) == 0:
		return configErr(errors.New("no group tag"), "set --group-tag")
	case c.MaxAge < 0 || c.StaleOK < 0:
		return configErr(errors.New("--max-age and --stale-ok cannot be negative"), "use 0s to disable them")
	case c.Timeout <= 0:
		return configErr(errors.New("--timeout must be positive"), "use e.g. --timeout 10s")
	}
	for _, t := range c.GroupTags {
		if t == "" || strings.HasPrefix(t, "tag:") {
			return configErr(fmt.Errorf("bad group tag %q", t), "give the tag key alone, e.g. --group-tag aws:autoscaling:groupName")
		}
	}
	return nil
}

// Elector makes elections and caches their verdicts in a Store.
type Elector struct {
	Identity Identity
	Fleet    Fleet
	// SelfTags drains and undrains this instance; only Drain and Undrain
	// use it.
	SelfTags SelfTags
	Store    *Store
	Config   Config
	// Clock tells the time of verdicts and measures --timeout; nil is the
	// system clock.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Now is the time on the elector's clock.
func (e *Elector) Now() time.Time { return clock.Or(e.Clock).Now() }

// Decide returns this instance's verdict, electing only when the stored one
// is too old for req. Concurrent calls on one instance share one election:
// the first takes the state dir's lock and elects, the others wait and reuse
// its verdict, or its failure. When no election can be made, the error says
// why (ExitCode 75 or 78) and the marker is removed, unless Config.StaleOK
// accepts the last verdict, which is then returned with Stale set.
func (e *Elector) Decide(ctx context.Context, req Request) (Verdict, error) {
	start := e.Now()
	notBefore := start.Add(-e.Config.MaxAge)
	if !req.Tick.IsZero() && req.Tick.Before(notBefore) {
		notBefore = req.Tick
	}
	fresh := func(v Verdict) bool {
		// A verdict from the future means the clock jumped: distrust it.
		// One made under another group configuration answers another
		// question.
		return !req.Force && !v.At.Before(notBefore) && !v.At.After(e.Now().Add(time.Second)) && e.sameGroupConfig(v)
	}
	if v, ok := e.Store.Load(); ok && fresh(v) {
		return v, nil
	}

	ctx, cancel := clock.WithTimeoutCause(ctx, e.Clock, e.Config.Timeout,
		fmt.Errorf("no answer within --timeout %s", e.Config.Timeout))
	defer cancel()
	if err := e.Store.Ensure(); err != nil {
		return e.failed(Verdict{}, false, err)
	}
	unlock, err := e.Store.Lock(ctx)
	if err != nil {
		return e.failed(Verdict{}, false, err)
	}
	defer unlock()

	last, haveLast := e.Store.Load()
	if haveLast && fresh(last) {
		return last, nil
	}
	// Another invocation failed while we waited for the lock: share its
	// failure rather than hammer a throttled or broken endpoint again.
	if f, ok := e.Store.lastFailure(); ok && !req.Force && !f.At.Before(start) {
		return e.failed(last, haveLast, &Error{Code: f.Code, Err: errors.New(f.Message)})
	}

	v, err := e.elect(ctx)
	if err != nil {
		if serr := e.Store.saveFailure(e.Now(), err); serr != nil {
			e.Logger.Warn("cannot record the failed election", "err", serr)
		}
		return e.failed(last, haveLast, err)
	}
	e.Store.clearFailure()
	if err := e.Store.Save(v); err != nil {
		// The marker was already published: take it back, fail closed.
		return e.failed(Verdict{}, false, err)
	}
	return v, nil
}

// failed applies the fail-closed rule: use the last verdict if StaleOK
// covers it, else remove the marker and return err.
func (e *Elector) failed(last Verdict, haveLast bool, err error) (Verdict, error) {
	// A verdict from the future means the clock was stepped back: like
	// fresh(), never trust it.
	if age := e.Now().Sub(last.At); haveLast && e.Config.StaleOK > 0 && age >= -time.Second && age <= e.Config.StaleOK {
		// The marker follows the verdict in use, so legacy lines agree with run.
		if merr := e.Config.Marker.Set(last.Leader, last.Self+"\n"); merr != nil {
			return Verdict{}, merr
		}
		last.Stale, last.StaleCause = true, err.Error()
		return last, nil
	}
	if merr := e.Config.Marker.Set(false, ""); merr != nil {
		return Verdict{}, fmt.Errorf("%w (and the marker could not be removed: %v)", err, merr)
	}
	return Verdict{}, err
}

// Survey makes a new election now without publishing it: the verdict and
// the candidates it saw, oldest first. For status; Elect publishes.
func (e *Elector) Survey(ctx context.Context) (Verdict, []Instance, error) {
	v, candidates, _, err := e.survey(ctx)
	return v, candidates, err
}

// survey is Survey, and also reports whether this instance has a drain
// recorded that the draining tags EC2 returned do not show.
func (e *Elector) survey(ctx context.Context) (_ Verdict, _ []Instance, drainUntagged bool, _ error) {
	if err := e.Store.Ensure(); err != nil {
		return Verdict{}, nil, false, err
	}
	self, err := e.Identity.Self(ctx)
	if err != nil {
		return Verdict{}, nil, false, err
	}
	key, value, err := e.group(ctx, self.InstanceID)
	if err != nil {
		return Verdict{}, nil, false, err
	}
	candidates, err := e.Fleet.Instances(ctx, Query{TagKey: key, TagValue: value, RunningOnly: true})
	if err != nil {
		return Verdict{}, nil, false, wrap(err, "describe instances in group %s=%s", key, value)
	}
	if d, ok := e.Store.drain(self.InstanceID); ok {
		drainUntagged = applyDrain(self.InstanceID, d, candidates)
	}
	if e.Config.Group != "" && !slices.ContainsFunc(candidates, func(c Instance) bool { return c.ID == self.InstanceID }) {
		if err := e.checkInGroup(ctx, self.InstanceID, key, value); err != nil {
			return Verdict{}, nil, false, err
		}
	}
	v := Choose(self.InstanceID, candidates)
	v.GroupKey, v.Group = key, value
	v.At = e.Now()
	SortByAge(candidates)
	return v, candidates, drainUntagged, nil
}

// Elect makes a new election now and publishes it: this instance's leader
// tag and the marker. It neither reads nor writes the verdict cache: Decide
// does.
func (e *Elector) Elect(ctx context.Context) (Verdict, []Instance, error) {
	v, candidates, drainUntagged, err := e.survey(ctx)
	if err != nil {
		return Verdict{}, nil, err
	}
	if !e.Config.NoTag {
		e.publishTag(ctx, v, candidates)
	}
	if drainUntagged {
		e.republishDrain(ctx, v.Self)
	}
	if err := e.Config.Marker.Set(v.Leader, v.Self+"\n"); err != nil {
		return Verdict{}, nil, err
	}
	v.At = e.Now()
	return v, candidates, nil
}

func (e *Elector) elect(ctx context.Context) (Verdict, error) {
	v, _, err := e.Elect(ctx)
	return v, err
}

// publishTag sets this instance's leader tag when it differs from what
// DescribeInstances just showed: steady state makes no CreateTags call. A
// failure is a warning only: the verdict never depends on the tag.
func (e *Elector) publishTag(ctx context.Context, v Verdict, candidates []Instance) {
	want := fmt.Sprint(v.Leader)
	for _, c := range candidates {
		if c.ID != v.Self {
			continue
		}
		if c.Tags[LeaderTag] == want {
			return
		}
		if err := e.Fleet.Tag(ctx, v.Self, LeaderTag, want); err != nil {
			e.Logger.Warn("cannot set the leader tag; the election is unaffected, but fix the IAM policy (leadergate iam-policy)",
				"instance", v.Self, "tag", LeaderTag+"="+want, "err", err)
		}
		return
	}
}

// drainTagLag is how long after a drain DescribeInstances may still not show
// its tags before the election sets them again: EC2 is eventually consistent.
const drainTagLag = time.Minute

// republishDrain sets the draining tags again when this instance has a
// drain recorded that EC2 still does not show a while later (its CreateTags
// failed, or someone removed them): other instances see only the tags.
func (e *Elector) republishDrain(ctx context.Context, self string) {
	d, ok := e.Store.drain(self)
	if !ok || e.SelfTags == nil || e.Now().Sub(d.At) < drainTagLag {
		return
	}
	if err := e.SelfTags.SetTags(ctx, self, drainTags(d, e.Config.NoTag)); err != nil {
		e.Logger.Warn("cannot set the draining tag; other instances may still elect this one (leadergate iam-policy)",
			"instance", self, "err", err)
	}
}

// sameGroupConfig reports whether a cached verdict was made under the
// group configuration in use: --group (with the first --group-tag) names
// one group, otherwise the verdict's tag must be one of --group-tag.
func (e *Elector) sameGroupConfig(v Verdict) bool {
	if e.Config.Group != "" {
		return v.GroupKey == e.Config.GroupTags[0] && v.Group == e.Config.Group
	}
	return slices.Contains(e.Config.GroupTags, v.GroupKey)
}

// checkInGroup is asked when --group names a group whose running
// instances do not include this one: an instance of another group would
// otherwise follow forever, silently. A DescribeInstances that simply lags
// (this instance has the tag, the filtered call did not show it yet) is no
// error.
func (e *Elector) checkInGroup(ctx context.Context, self, key, value string) error {
	mine, err := e.Fleet.Instances(ctx, Query{IDs: []string{self}})
	if err != nil {
		return wrap(err, "describe this instance %s to check it is in --group %s", self, value)
	}
	for _, i := range mine {
		if i.ID != self {
			continue
		}
		switch got := i.Tags[key]; {
		case got == value:
			return nil
		case got == "":
			return configErr(fmt.Errorf("this instance %s has no %s tag, so it is not in --group %s", self, key, value),
				"run leadergate on an instance of that group, or fix --group / --group-tag")
		default:
			return configErr(fmt.Errorf("this instance %s has %s=%s, not %s", self, key, got, value),
				fmt.Sprintf("pass --group %s, or leave --group out to read the group from this instance's tags", got))
		}
	}
	return nil
}

// group returns this instance's group tag and value: given, cached in the
// state dir, or read from the instance's own tags once.
func (e *Elector) group(ctx context.Context, self string) (key, value string, err error) {
	if e.Config.Group != "" {
		return e.Config.GroupTags[0], e.Config.Group, nil
	}
	if key, value, ok := e.Store.group(self); ok && slices.Contains(e.Config.GroupTags, key) {
		return key, value, nil
	}
	mine, err := e.Fleet.Instances(ctx, Query{IDs: []string{self}})
	if err != nil {
		return "", "", wrap(err, "describe this instance %s to find its group", self)
	}
	for _, i := range mine {
		if i.ID != self {
			continue
		}
		for _, k := range e.Config.GroupTags {
			if v := i.Tags[k]; v != "" {
				if err := e.Store.saveGroup(self, k, v); err != nil {
					// Only a cache: the next election asks again.
					e.Logger.Debug("cannot cache the group", "err", err)
				}
				return k, v, nil
			}
		}
	}
	return "", "", configErr(fmt.Errorf("instance %s has none of the group tags %s", self, strings.Join(e.Config.GroupTags, ", ")),
		"set --group-tag to a tag all instances of the group share, or --group")
}

// wrap adds context and keeps the exit code of err (temporary failure by
// default).
func wrap(err error, format string, args ...any) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Err: fmt.Errorf(format+": %w", append(args, e.Err)...), Fix: e.Fix}
	}
	return tempFail(fmt.Errorf(format+": %w", append(args, err)...), "")
}
