// Package elect decides which instance of a group of identical EC2 instances
// is the leader, publishes the answer as the instance's own "leader" tag and a
// marker file, and caches it so that many invocations on one instance share
// one election.
//
// # Algorithm
//
// Every instance computes the same answer from the same data, so nobody has
// to win a race: the leader is the running instance of the group with the
// smallest (LaunchTime, InstanceId). New instances are younger, so scaling out
// never moves leadership; it moves only when the leader stops running.
// The "leader" tag is an output for humans and legacy scripts, never an input:
// any instance can tag itself, so the election never trusts it. The draining
// tag ([DrainingTag]) is an input: an instance that is leaving sets it on
// itself and every election then ignores that instance. It is safe to trust
// because it can only take its declarer out, never put anyone in.
//
// # Guarantees
//
// In steady state at most one instance of a group considers itself leader.
// DescribeInstances is eventually consistent: in the seconds around a
// leader's termination, two instances may briefly disagree, so this package
// does not guarantee that at most one instance acts as leader at every
// instant (there is no fencing). When an election cannot be made, the caller
// gets an error and, unless an older verdict is explicitly accepted, the
// marker is removed: leadergate fails closed.
package elect

import (
	"context"
	"time"
)

// Default group tags: the Elastic Beanstalk environment id is stable across
// immutable and traffic-splitting deploys, which move instances between Auto
// Scaling groups; the Auto Scaling group name is the fallback for plain groups.
const (
	TagEnvironmentID = "elasticbeanstalk:environment-id"
	TagASGName       = "aws:autoscaling:groupName"
	// LeaderTag is the tag each instance sets on itself, "true" or "false".
	LeaderTag = "leader"
	// DrainingTag marks an instance that is leaving (a Spot notice, an Auto
	// Scaling termination, a shutdown, an operator's drain): its value is the
	// RFC 3339 time the drain began, and every election ignores it.
	DrainingTag = "leadergate:draining"
	// DrainingReasonTag says why, for status; it is set and cleared with
	// DrainingTag.
	DrainingReasonTag = "leadergate:draining-reason"
)

// DefaultGroupTags returns the group tags tried by default, in order.
func DefaultGroupTags() []string { return []string{TagEnvironmentID, TagASGName} }

// Instance is what the election knows of one EC2 instance.
type Instance struct {
	ID         string
	LaunchTime time.Time
	State      string // "running", "stopped", ...
	Tags       map[string]string
}

// Self identifies the instance this process runs on.
type Self struct {
	InstanceID string
	Region     string
}

// Identity tells which instance this process runs on (IMDSv2 in production).
type Identity interface {
	Self(ctx context.Context) (Self, error)
}

// Query selects instances. Filters are applied by the server; an empty Query
// is refused by Fleet implementations so that nothing ever scans a region.
type Query struct {
	IDs         []string // instance-id filter
	TagKey      string   // tag:TagKey=TagValue filter
	TagValue    string
	RunningOnly bool // instance-state-name=running
}

// Fleet is the two EC2 calls the election needs. It is strictly for use by
// this package: DescribeInstances and CreateTags, nothing else.
type Fleet interface {
	// Instances returns every instance matching q, across all pages.
	Instances(ctx context.Context, q Query) ([]Instance, error)
	// Tag sets key=value on instance id, and only on it.
	Tag(ctx context.Context, id, key, value string) error
}

// Verdict is the outcome of one election, as seen by one instance.
type Verdict struct {
	Self       string    `json:"self"`
	Leader     bool      `json:"leader"`
	LeaderID   string    `json:"leader_id"`
	GroupKey   string    `json:"group_key"`
	Group      string    `json:"group"`
	Candidates int       `json:"candidates"`
	Draining   int       `json:"draining,omitempty"` // running candidates ignored as draining
	At         time.Time `json:"at"`                 // when the election was made
	Reason     string    `json:"reason"`

	// Stale is set, never stored, when an election failed and this older
	// verdict was accepted under StaleOK; StaleCause says why.
	Stale      bool   `json:"-"`
	StaleCause string `json:"-"`
}

// Request says how fresh a verdict must be.
type Request struct {
	// Force makes a new election whatever the cache holds.
	Force bool
	// Tick, when set, is the fire time of a scheduled run: any verdict made
	// at or after it is fresh enough, so all jobs of one tick share one
	// election even with a zero MaxAge.
	Tick time.Time
}
