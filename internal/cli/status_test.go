package cli

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/leadergate/leadergate/elect"
)

// TestStatusJSONIsTheContract pins the keys of `status --json`: a rename
// here breaks every script that reads them.
func TestStatusJSONIsTheContract(t *testing.T) {
	launched := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	cachedAt := launched.Add(time.Hour)
	v := elect.Verdict{Self: "i-b", LeaderID: "i-a", GroupKey: "elasticbeanstalk:environment-id", Group: "e-1", Reason: "i-a is the oldest"}
	cands := []elect.Instance{
		{ID: "i-a", LaunchTime: launched, Tags: map[string]string{elect.LeaderTag: "true"}},
		{ID: "i-b", LaunchTime: launched.Add(time.Minute)},
	}
	cached := elect.Verdict{At: cachedAt, Leader: false}
	b, err := json.Marshal(newStatus(v, cands, &cached, cachedAt.Add(1500*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"self":"i-b","group_key":"elasticbeanstalk:environment-id","group":"e-1","leader":"i-a","is_leader":false,"reason":"i-a is the oldest",` +
		`"candidates":[{"id":"i-a","launch_time":"2026-03-01T10:00:00Z","leader_tag":"true","leader":true,"self":false},` +
		`{"id":"i-b","launch_time":"2026-03-01T10:01:00Z","leader_tag":"","leader":false,"self":true}],` +
		`"cached_verdict_at":"2026-03-01T11:00:00Z","cached_verdict_age":"1.5s","cached_is_leader":false}`
	if string(b) != want {
		t.Errorf("status --json\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(newStatus(v, nil, nil, cachedAt))
	if want := `{"self":"i-b","group_key":"elasticbeanstalk:environment-id","group":"e-1","leader":"i-a","is_leader":false,"reason":"i-a is the oldest","candidates":[]}`; string(b) != want {
		t.Errorf("status --json without candidates or cache\n got %s\nwant %s", b, want)
	}
}
