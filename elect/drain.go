package elect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SelfTags is what draining needs of EC2 besides the election's Fleet: one
// CreateTags with several tags and one DeleteTags, both on one instance. It
// is strictly for use by this package.
type SelfTags interface {
	// SetTags sets every key=value of tags on instance id, in one call.
	SetTags(ctx context.Context, id string, tags map[string]string) error
	// DeleteTags removes the keys from instance id, in one call.
	DeleteTags(ctx context.Context, id string, keys ...string) error
}

// Drain is a recorded step-down of this instance.
type Drain struct {
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
	Cause    string    `json:"cause"`             // CauseOperator, CauseShutdown or a notice's kind
	Deadline time.Time `json:"deadline,omitzero"` // when the instance goes, when the notice says
}

// Causes of a drain. An operator's drain lasts until `leadergate undrain`;
// the scheduler clears the others itself when their cause is gone (a
// restart on the same instance, a lifecycle state back to InService).
const (
	CauseOperator = "operator"
	CauseShutdown = "shutdown"
)

// Automatic reports whether the scheduler owns d (it set it, it clears it).
func (d Drain) Automatic() bool { return d.Cause != CauseOperator }

const drainFile = "draining.json"

type storedDrain struct {
	Format   int    `json:"format"`
	Instance string `json:"instance"`
	Drain
}

// maxReason bounds the reason tag: EC2 tag values hold 256 characters.
const maxReason = 200

// Drain takes this instance out of every election: it records the drain in
// the state dir (this instance follows at once, whatever DescribeInstances
// still says), removes the marker, and tags itself leader=false plus the
// [DrainingTag] and [DrainingReasonTag] in one CreateTags. A failed
// CreateTags is returned, the local drain stays: the next election tries the
// tags again.
func (e *Elector) Drain(ctx context.Context, d Drain) error {
	self, unlock, err := e.lockSelf(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if d.At.IsZero() {
		d.At = e.Now()
	}
	d.At = d.At.UTC().Truncate(time.Second)
	d.Reason = flatten(d.Reason)
	if len(d.Reason) > maxReason {
		d.Reason = d.Reason[:maxReason]
	}
	if err := e.Store.write(drainFile, storedDrain{Format: stateFormat, Instance: self.InstanceID, Drain: d}); err != nil {
		return err
	}
	// The cached verdict would let a cached `check` answer leader.
	if err := e.Store.Save(Verdict{Self: self.InstanceID, At: e.Now(), Reason: "this instance is draining: " + d.Reason}); err != nil {
		return err
	}
	if err := e.Config.Marker.Set(false, ""); err != nil {
		return err
	}
	if err := e.SelfTags.SetTags(ctx, self.InstanceID, drainTags(d, e.Config.NoTag)); err != nil {
		return wrap(err, "tag %s as draining", self.InstanceID)
	}
	return nil
}

func drainTags(d Drain, noTag bool) map[string]string {
	tags := map[string]string{DrainingTag: d.At.Format(time.RFC3339), DrainingReasonTag: d.Reason}
	if !noTag {
		tags[LeaderTag] = "false"
	}
	return tags
}

// Undrain puts this instance back into the elections: one DeleteTags of the
// draining tags, then the local record and the cached verdict go, so the next
// decision elects afresh. It is not an error when nothing was drained.
func (e *Elector) Undrain(ctx context.Context) error {
	self, unlock, err := e.lockSelf(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.SelfTags.DeleteTags(ctx, self.InstanceID, DrainingTag, DrainingReasonTag); err != nil {
		return wrap(err, "remove the draining tags of %s", self.InstanceID)
	}
	for _, f := range []string{drainFile, verdictFile} {
		if err := os.Remove(filepath.Join(e.Store.Dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return configErr(fmt.Errorf("remove %s: %w", f, err), "check the state dir's permissions")
		}
	}
	return nil
}

// Draining returns this instance's recorded drain, if any.
func (e *Elector) Draining(ctx context.Context) (Drain, bool, error) {
	self, err := e.Identity.Self(ctx)
	if err != nil {
		return Drain{}, false, err
	}
	d, ok := e.Store.drain(self.InstanceID)
	return d, ok, nil
}

func (s *Store) drain(id string) (Drain, bool) {
	var d storedDrain
	if !s.read(drainFile, &d) || d.Format != stateFormat || d.Instance != id || d.At.IsZero() {
		return Drain{}, false
	}
	return d.Drain, true
}

// applyDrain marks self as draining among candidates when this instance has
// a drain recorded: DescribeInstances may not show its tags yet. It reports
// whether self's draining tags are missing from what EC2 returned.
func applyDrain(self string, d Drain, candidates []Instance) (missing bool) {
	for i := range candidates {
		if candidates[i].ID != self {
			continue
		}
		tags := make(map[string]string, len(candidates[i].Tags)+2)
		for k, v := range candidates[i].Tags {
			tags[k] = v
		}
		_, has := tags[DrainingTag]
		if !has {
			tags[DrainingTag] = d.At.Format(time.RFC3339)
			tags[DrainingReasonTag] = d.Reason
		}
		candidates[i].Tags = tags
		return !has
	}
	return false
}

// DrainOf reads the draining tags of i: when and why it drains.
func DrainOf(i Instance) (at, reason string, ok bool) {
	at, ok = i.Tags[DrainingTag]
	return at, strings.TrimSpace(i.Tags[DrainingReasonTag]), ok
}

// lockSelf reads this instance's identity and takes the election's lock, as
// drain and undrain change its tags: an election in flight, which read the
// tags before, ends first and cannot undo the change.
func (e *Elector) lockSelf(ctx context.Context) (self Self, unlock func(), err error) {
	if err := e.Store.Ensure(); err != nil {
		return Self{}, nil, err
	}
	if self, err = e.Identity.Self(ctx); err != nil {
		return Self{}, nil, err
	}
	if unlock, err = e.Store.Lock(ctx); err != nil {
		return Self{}, nil, err
	}
	return self, unlock, nil
}
