package elect

import (
	"fmt"
	"sort"
)

// Choose returns the verdict of the election for self among candidates: the
// leader is the running candidate with the smallest (LaunchTime, ID) that is
// not draining. It is pure and total: it reads no clock and does no I/O, and
// every input gives a verdict. Candidates that are not running, or that carry
// the [DrainingTag], are ignored; if self is not among the remaining
// candidates, self is a follower.
//
// The draining tag is trusted where the leader tag is not: an instance can
// only set it on itself, and it only ever takes the declarer out of the
// election, never puts anyone in.
func Choose(self string, candidates []Instance) Verdict {
	running := make([]Instance, 0, len(candidates))
	draining := 0
	selfDraining := false
	for _, c := range candidates {
		if c.ID == "" || (c.State != "" && c.State != "running") {
			continue
		}
		if Draining(c) {
			draining++
			selfDraining = selfDraining || c.ID == self
			continue
		}
		running = append(running, c)
	}
	v := Verdict{Self: self, Candidates: len(running), Draining: draining}
	if len(running) == 0 {
		switch {
		case draining > 0:
			v.Reason = fmt.Sprintf("no leader: all %d running instances of the group are draining", draining)
			if draining == 1 {
				v.Reason = "no leader: the one running instance of the group is draining"
			}
		default:
			v.Reason = "no running instance in the group"
		}
		return v
	}
	leader := running[0]
	for _, c := range running[1:] {
		if older(c, leader) {
			leader = c
		}
	}
	v.LeaderID = leader.ID
	v.Leader = leader.ID == self
	switch {
	case v.Leader:
		v.Reason = "the only running instance"
		if len(running) > 1 {
			v.Reason = fmt.Sprintf("oldest of %d running instances", len(running))
		}
		if draining > 0 {
			v.Reason += fmt.Sprintf(" (%d draining ignored)", draining)
		}
	case selfDraining:
		v.Reason = fmt.Sprintf("this instance is draining; leader is %s", leader.ID)
	case !contains(running, self):
		v.Reason = fmt.Sprintf("not among the %d running instances; leader is %s", len(running), leader.ID)
		if len(running) == 1 {
			v.Reason = "not the one running instance; leader is " + leader.ID
		}
	default:
		v.Reason = fmt.Sprintf("%s is older (launched %s)", leader.ID, leader.LaunchTime.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return v
}

// Draining reports whether i has declared that it is leaving: it carries the
// [DrainingTag], whatever its value (a value that is not a time still takes
// the instance out: the tag can only remove its declarer).
func Draining(i Instance) bool {
	_, ok := i.Tags[DrainingTag]
	return ok
}

// older orders instances by launch time, then by id: launch times have
// one-second resolution, so ties are common in a scale-out.
func older(a, b Instance) bool {
	if !a.LaunchTime.Equal(b.LaunchTime) {
		return a.LaunchTime.Before(b.LaunchTime)
	}
	return a.ID < b.ID
}

func contains(instances []Instance, id string) bool {
	for _, i := range instances {
		if i.ID == id {
			return true
		}
	}
	return false
}

// SortByAge orders instances oldest first, the election's order.
func SortByAge(instances []Instance) {
	sort.Slice(instances, func(i, j int) bool { return older(instances[i], instances[j]) })
}
