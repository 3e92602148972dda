package lifecycle

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func found(v string) Reading { return Reading{Value: v, Found: true} }

var errIMDS = errors.New("connection refused")

func TestInterpret(t *testing.T) {
	deadline := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		r         Readings
		rebalance bool
		leaving   bool
		kind      string
		deadline  time.Time
		reason    string
	}{
		{"nothing served: staying", Readings{}, true, false, "", time.Time{}, ""},
		{"a spot notice drains with its deadline", Readings{Spot: found(`{"action":"terminate","time":"2026-12-01T23:00:00Z"}`)}, false, true, KindSpot, deadline, "terminate at 2026-12-01T23:00:00Z"},
		{"a spot stop notice drains too", Readings{Spot: found(`{"action":"stop","time":"2026-12-01T23:00:00Z"}`)}, false, true, KindSpot, deadline, "stop"},
		{"a spot notice that does not parse still drains, without deadline", Readings{Spot: found(`<html>`)}, false, true, KindSpot, time.Time{}, "spot interruption notice"},
		{"InService stays", Readings{TargetState: found("InService")}, true, false, "", time.Time{}, ""},
		{"Terminated drains", Readings{TargetState: found("Terminated")}, false, true, KindAutoScaling, time.Time{}, "Terminated"},
		{"Standby drains", Readings{TargetState: found("Standby")}, false, true, KindAutoScaling, time.Time{}, "Standby"},
		{"a warm pool instance does not lead", Readings{TargetState: found("Warmed:Running")}, false, true, KindAutoScaling, time.Time{}, "Warmed:Running"},
		{"a rebalance recommendation is ignored by default", Readings{Rebalance: found(`{"noticeTime":"2026-12-01T22:50:00Z"}`)}, false, false, "", time.Time{}, ""},
		{"a rebalance recommendation drains when asked", Readings{Rebalance: found(`{"noticeTime":"2026-12-01T22:50:00Z"}`)}, true, true, KindRebalance, time.Time{}, "2026-12-01T22:50:00Z"},
		{"the spot notice wins over the lifecycle state", Readings{Spot: found(`{"action":"terminate","time":"2026-12-01T23:00:00Z"}`), TargetState: found("Terminated")}, false, true, KindSpot, deadline, "spot"},
		{"an unreadable path is no notice", Readings{Spot: Reading{Err: errIMDS}, TargetState: Reading{Err: errIMDS}}, true, false, "", time.Time{}, ""},
		{"one unreadable path does not hide another's notice", Readings{Spot: Reading{Err: errIMDS}, TargetState: found("Terminated")}, false, true, KindAutoScaling, time.Time{}, "Terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := Interpret(tt.r, tt.rebalance)
			if ok != tt.leaving || n.Kind != tt.kind || !n.Deadline.Equal(tt.deadline) || !strings.Contains(n.Reason, tt.reason) {
				t.Errorf("Interpret = %+v, %t; want leaving %t, kind %q, deadline %s, reason with %q", n, ok, tt.leaving, tt.kind, tt.deadline, tt.reason)
			}
		})
	}
}

func TestBackInService(t *testing.T) {
	tests := []struct {
		name  string
		cause string
		r     Readings
		back  bool
	}{
		{"standby, then InService again", KindAutoScaling, Readings{TargetState: found("InService")}, true},
		{"still Standby", KindAutoScaling, Readings{TargetState: found("Standby")}, false},
		{"an unreadable state is not InService", KindAutoScaling, Readings{TargetState: Reading{Err: errIMDS}}, false},
		{"a spot drain never comes back", KindSpot, Readings{TargetState: found("InService")}, false},
		{"an operator's drain is not the watcher's to undo", "operator", Readings{TargetState: found("InService")}, false},
		{"InService but a spot notice arrived", KindAutoScaling, Readings{TargetState: found("InService"), Spot: found("{}")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BackInService(tt.cause, tt.r); got != tt.back {
				t.Errorf("BackInService = %t, want %t", got, tt.back)
			}
		})
	}
}
