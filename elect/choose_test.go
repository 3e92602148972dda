package elect

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func inst(id string, launchedMin int, state string) Instance {
	return Instance{ID: id, LaunchTime: t0.Add(time.Duration(launchedMin) * time.Minute), State: state}
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name       string
		self       string
		candidates []Instance
		leader     string
		isLeader   bool
	}{
		{"the only instance leads", "i-a", []Instance{inst("i-a", 0, "running")}, "i-a", true},
		{"the oldest leads", "i-b", []Instance{inst("i-a", 5, "running"), inst("i-b", 1, "running"), inst("i-c", 3, "running")}, "i-b", true},
		{"a younger instance follows", "i-a", []Instance{inst("i-a", 5, "running"), inst("i-b", 1, "running")}, "i-b", false},
		{"equal launch times are broken by id", "i-2", []Instance{inst("i-2", 0, "running"), inst("i-1", 0, "running")}, "i-1", false},
		{"a stopped older instance does not lead", "i-b", []Instance{inst("i-a", 0, "stopped"), inst("i-b", 1, "running")}, "i-b", true},
		{"a terminated older instance does not lead", "i-b", []Instance{inst("i-a", 0, "terminated"), inst("i-b", 1, "running")}, "i-b", true},
		{"self not listed yet follows", "i-new", []Instance{inst("i-a", 0, "running")}, "i-a", false},
		{"no candidates: nobody leads", "i-a", nil, "", false},
		{"only stopped candidates: nobody leads", "i-a", []Instance{inst("i-a", 0, "stopped")}, "", false},
		{"an instance without id is ignored", "i-a", []Instance{inst("", -10, "running"), inst("i-a", 0, "running")}, "i-a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Choose(tt.self, tt.candidates)
			if v.LeaderID != tt.leader || v.Leader != tt.isLeader {
				t.Errorf("Choose(%s) = leader %q (self leads: %t), want %q (%t); reason %q", tt.self, v.LeaderID, v.Leader, tt.leader, tt.isLeader, v.Reason)
			}
			if v.Reason == "" {
				t.Error("verdict has no reason")
			}
		})
	}
}

// randomFleet makes n running instances with launch times drawn from a small
// range, so that ties on LaunchTime are common.
func randomFleet(r *rand.Rand, n int) []Instance {
	fleet := make([]Instance, n)
	for i := range fleet {
		fleet[i] = Instance{
			ID:         fmt.Sprintf("i-%017x", r.Uint64()>>4),
			LaunchTime: t0.Add(time.Duration(r.IntN(5)) * time.Second),
			State:      "running",
		}
	}
	return fleet
}

func TestChooseExactlyOneLeaderWhateverTheOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 500; round++ {
		fleet := randomFleet(r, 1+r.IntN(40))
		var leaders []string
		want := ""
		for _, self := range fleet {
			shuffled := append([]Instance(nil), fleet...)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			v := Choose(self.ID, shuffled)
			if want == "" {
				want = v.LeaderID
			}
			if v.LeaderID != want {
				t.Fatalf("round %d: %s sees leader %s, another instance saw %s", round, self.ID, v.LeaderID, want)
			}
			if v.Leader {
				leaders = append(leaders, self.ID)
			}
		}
		if len(leaders) != 1 {
			t.Fatalf("round %d: %d instances consider themselves leader: %v", round, len(leaders), leaders)
		}
	}
}

func TestChooseIsStableWhenYoungerInstancesJoin(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		fleet := randomFleet(r, 1+r.IntN(20))
		before := Choose("", fleet).LeaderID
		for k := 0; k < 1+r.IntN(10); k++ {
			fleet = append(fleet, Instance{ID: fmt.Sprintf("i-%017x", r.Uint64()>>4), LaunchTime: t0.Add(time.Hour), State: "running"})
		}
		if after := Choose("", fleet).LeaderID; after != before {
			t.Fatalf("round %d: leader moved from %s to %s when younger instances joined", round, before, after)
		}
	}
}

func TestChooseMovesOnlyWhenTheLeaderStops(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	fleet := randomFleet(r, 10)
	for len(fleet) > 1 {
		v := Choose("", fleet)
		// Removing a follower keeps the leader.
		for i := range fleet {
			if fleet[i].ID != v.LeaderID {
				rest := append(append([]Instance(nil), fleet[:i]...), fleet[i+1:]...)
				if got := Choose("", rest).LeaderID; got != v.LeaderID {
					t.Fatalf("removing follower %s moved leadership from %s to %s", fleet[i].ID, v.LeaderID, got)
				}
				break
			}
		}
		// Removing the leader elects the next oldest.
		SortByAge(fleet)
		fleet = fleet[1:]
		if got := Choose("", fleet).LeaderID; got != fleet[0].ID {
			t.Fatalf("after the leader left, %s leads, want the next oldest %s", got, fleet[0].ID)
		}
	}
}

func draining(i Instance) Instance {
	i.Tags = map[string]string{DrainingTag: "2026-11-25T10:30:00Z", LeaderTag: "false"}
	return i
}

func TestChooseIgnoresDrainingInstances(t *testing.T) {
	tests := []struct {
		name       string
		self       string
		candidates []Instance
		leader     string
		isLeader   bool
		reason     string // a part of the reason
	}{
		{"a draining oldest instance does not lead: the next oldest does", "i-b",
			[]Instance{draining(inst("i-a", 0, "running")), inst("i-b", 1, "running"), inst("i-c", 2, "running")}, "i-b", true, "1 draining ignored"},
		{"the draining instance itself follows and says so", "i-a",
			[]Instance{draining(inst("i-a", 0, "running")), inst("i-b", 1, "running")}, "i-b", false, "this instance is draining"},
		{"all instances draining: nobody leads", "i-a",
			[]Instance{draining(inst("i-a", 0, "running")), draining(inst("i-b", 1, "running"))}, "", false, "all 2 running instances of the group are draining"},
		{"a draining tag with a value that is not a time still drains", "i-b",
			[]Instance{{ID: "i-a", LaunchTime: t0, State: "running", Tags: map[string]string{DrainingTag: ""}}, inst("i-b", 1, "running")}, "i-b", true, "draining ignored"},
		{"a draining younger instance changes nothing", "i-a",
			[]Instance{inst("i-a", 0, "running"), draining(inst("i-b", 1, "running"))}, "i-a", true, "the only running instance (1 draining ignored)"},
		{"a draining stopped instance is not counted as draining", "i-b",
			[]Instance{draining(inst("i-a", 0, "stopped")), inst("i-b", 1, "running")}, "i-b", true, "the only running instance"},
		{"leader=true on a draining instance is not trusted", "i-b",
			[]Instance{{ID: "i-a", LaunchTime: t0, State: "running", Tags: map[string]string{DrainingTag: "x", LeaderTag: "true"}}, inst("i-b", 1, "running")}, "i-b", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Choose(tt.self, tt.candidates)
			if v.LeaderID != tt.leader || v.Leader != tt.isLeader {
				t.Errorf("Choose(%s) = leader %q (self leads: %t), want %q (%t); reason %q", tt.self, v.LeaderID, v.Leader, tt.leader, tt.isLeader, v.Reason)
			}
			if !strings.Contains(v.Reason, tt.reason) || v.Reason == "" {
				t.Errorf("reason %q does not say %q", v.Reason, tt.reason)
			}
		})
	}
}

// Whatever the fleet and whichever instances drain, in any order: no
// draining instance is ever chosen, every instance sees the same leader,
// that leader is the oldest of those not draining, and when all drain
// nobody leads.
func TestChooseNeverPicksADrainingInstance(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 500; round++ {
		fleet := randomFleet(r, 1+r.IntN(30))
		var rest []Instance
		for i := range fleet {
			if r.IntN(3) == 0 || round%50 == 0 { // every 50th round: all drain
				fleet[i] = draining(fleet[i])
			} else {
				rest = append(rest, fleet[i])
			}
		}
		want := ""
		if len(rest) > 0 {
			SortByAge(rest)
			want = rest[0].ID
		}
		leaders := 0
		for _, self := range fleet {
			shuffled := append([]Instance(nil), fleet...)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			v := Choose(self.ID, shuffled)
			if v.LeaderID != want {
				t.Fatalf("round %d: %s sees leader %q, want the oldest not draining %q", round, self.ID, v.LeaderID, want)
			}
			if v.Leader {
				leaders++
				if Draining(self) {
					t.Fatalf("round %d: draining %s considers itself leader", round, self.ID)
				}
			}
			if v.Draining != len(fleet)-len(rest) {
				t.Fatalf("round %d: verdict counts %d draining, want %d", round, v.Draining, len(fleet)-len(rest))
			}
		}
		if wantLeaders := min(1, len(rest)); leaders != wantLeaders {
			t.Fatalf("round %d: %d leaders, want %d", round, leaders, wantLeaders)
		}
	}
}
