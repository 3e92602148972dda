// Package lifecycle makes a leader that is about to leave hand over first.
//
// A [Watcher] polls the instance metadata service (IMDSv2 only) for the
// notices EC2 gives before an instance goes: a Spot interruption
// (spot/instance-action, two minutes ahead), a rebalance recommendation
// (events/recommendations/rebalance, opt-in: it is only a hint), and an Auto
// Scaling target lifecycle state other than InService. A [Manager] turns a
// notice, or the scheduler's own shutdown, into a drain of this instance
// (elect's draining tag, which every election honours), tells the scheduler
// so it stops starting leader-only runs, and keeps the instance protected
// from scale-in while leader-only jobs run (--protect).
//
// # Guarantees and limits
//
// A notice is acted on within one poll interval plus one CreateTags. The
// other instances see the drain at their next election, through
// DescribeInstances, which is eventually consistent: without the tick
// ledger one tick can be missed around a handover. An IMDS path that errors
// is retried at the next poll and never stops scheduling. Scale-in
// protection does not cover manual termination, health replacement or Spot
// interruption, and a group whose instances are all protected cannot scale
// in.
package lifecycle

import (
	"encoding/json"
	"fmt"
	"time"
)

// The IMDS paths watched, under latest/meta-data/. All are 404 until they
// apply.
const (
	PathSpot        = "spot/instance-action"
	PathRebalance   = "events/recommendations/rebalance"
	PathTargetState = "autoscaling/target-lifecycle-state"
)

// Kinds of notice; they are also the Cause of the drain they start.
const (
	KindSpot        = "spot"
	KindRebalance   = "rebalance"
	KindAutoScaling = "autoscaling"
)

// InService is the only target lifecycle state in which an instance leads.
const InService = "InService"

// Reading is one path's answer in one poll.
type Reading struct {
	Value string
	Found bool  // false on a 404
	Err   error // the path could not be read this time
}

// Readings is one poll of every watched path.
type Readings struct {
	Spot, Rebalance, TargetState Reading
}

// Notice is a reason to leave.
type Notice struct {
	Kind     string
	Reason   string
	Deadline time.Time // when the instance goes; zero when the notice does not say
}

// Interpret decides from one poll whether this instance is leaving. It is
// pure: the same readings give the same notice. A Spot notice wins over a
// lifecycle state, which wins over a rebalance recommendation (only
// consulted when rebalance is true). A notice whose body does not parse is
// still a notice, without a deadline: the path exists only when it applies.
func Interpret(r Readings, rebalance bool) (Notice, bool) {
	if r.Spot.Err == nil && r.Spot.Found {
		var a struct {
			Action string    `json:"action"`
			Time   time.Time `json:"time"`
		}
		if json.Unmarshal([]byte(r.Spot.Value), &a) != nil || a.Action == "" {
			return Notice{Kind: KindSpot, Reason: "spot interruption notice"}, true
		}
		n := Notice{Kind: KindSpot, Reason: "spot interruption notice: " + a.Action, Deadline: a.Time.UTC()}
		if !a.Time.IsZero() {
			n.Reason += " at " + a.Time.UTC().Format(time.RFC3339)
		}
		return n, true
	}
	if s := r.TargetState; s.Err == nil && s.Found && s.Value != "" && s.Value != InService {
		return Notice{Kind: KindAutoScaling, Reason: fmt.Sprintf("auto scaling target lifecycle state is %s", s.Value)}, true
	}
	if rebalance && r.Rebalance.Err == nil && r.Rebalance.Found {
		var rb struct {
			NoticeTime time.Time `json:"noticeTime"`
		}
		n := Notice{Kind: KindRebalance, Reason: "rebalance recommendation"}
		if json.Unmarshal([]byte(r.Rebalance.Value), &rb) == nil && !rb.NoticeTime.IsZero() {
			n.Reason += " of " + rb.NoticeTime.UTC().Format(time.RFC3339)
		}
		return n, true
	}
	return Notice{}, false
}

// BackInService reports whether the readings show that a drain of kind
// cause is over: only an Auto Scaling state can come back (Standby to
// InService), and only a successful reading says so.
func BackInService(cause string, r Readings) bool {
	s := r.TargetState
	return cause == KindAutoScaling && s.Err == nil && (!s.Found || s.Value == InService) &&
		(r.Spot.Err == nil && !r.Spot.Found)
}
