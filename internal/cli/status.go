package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/voice"
	"github.com/leadergate/leadergate/ledger"
)

type statusCmd struct {
	JSON bool `env:"LEADERGATE_JSON" help:"Print JSON."`
}

// Status is what `leadergate status --json` prints. It is a public contract:
// fields may be added, but none is renamed, removed or changes meaning.
type Status struct {
	Self       string            `json:"self"`      // this instance's ID
	GroupKey   string            `json:"group_key"` // the tag naming the group, e.g. elasticbeanstalk:environment-id
	Group      string            `json:"group"`     // that tag's value
	Leader     string            `json:"leader"`    // the elected instance's ID
	IsLeader   bool              `json:"is_leader"` // Self == Leader
	Reason     string            `json:"reason"`    // why, in one sentence
	Candidates []StatusCandidate `json:"candidates"`

	// The verdict cached in the state dir, as check and run would reuse it
	// (absent when there is none).
	CachedAt       *time.Time `json:"cached_verdict_at,omitempty"`
	CachedAge      string     `json:"cached_verdict_age,omitempty"` // a Go duration, rounded to the millisecond
	CachedIsLeader *bool      `json:"cached_is_leader,omitempty"`

	// With --ledger: the operators' pauses in force (leadergate pause).
	Paused []StatusPause `json:"paused,omitempty"`
}

// StatusPause is one pause in force: of a job, or of the whole group (Job
// empty).
type StatusPause struct {
	Job    string     `json:"job,omitempty"`
	By     string     `json:"by"`    // the caller's ARN
	Since  time.Time  `json:"since"` // UTC
	Until  *time.Time `json:"until,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

// StatusCandidate is one running instance of the group, oldest first.
type StatusCandidate struct {
	ID         string    `json:"id"`
	LaunchTime time.Time `json:"launch_time"` // UTC
	LeaderTag  string    `json:"leader_tag"`  // the value of its leader tag, "" when untagged
	Leader     bool      `json:"leader"`      // it is the elected one
	Self       bool      `json:"self"`        // it is this instance

	// Set while it is draining (leadergate drain): since when, and why.
	Draining string `json:"draining_since,omitempty"`
	Why      string `json:"draining_reason,omitempty"`
}

func (c *statusCmd) Run(g *Globals, d *Deps) error {
	if g.Assume != "" {
		return usageError{errors.New("status shows a real election and cannot be combined with --assume")}
	}
	e, err := g.elector(d, newLogger(d.Stderr, g.Verbose, ""))
	if err != nil {
		return err
	}
	// status only reads the state: `sudo leadergate status` works in the
	// service user's state dir.
	e.Store.ReadOnly = true
	ctx, cancel := clock.WithTimeout(context.Background(), d.Clock, g.Timeout)
	defer cancel()
	v, candidates, err := e.Survey(ctx)
	if err != nil {
		return err
	}
	cached, haveCached := e.Store.Load()
	var cachedPtr *elect.Verdict
	if haveCached {
		cachedPtr = &cached
	}
	s := newStatus(v, candidates, cachedPtr, d.Now())
	if g.Ledger != "" {
		s.Paused = pausesOf(ctx, g, d, v.Group)
	}
	if c.JSON {
		enc := json.NewEncoder(d.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return s.render(d.Stdout)
}

// newStatus assembles a Status from a fresh verdict, its candidates and the
// cached verdict (nil when none), aged at now.
func newStatus(v elect.Verdict, candidates []elect.Instance, cached *elect.Verdict, now time.Time) Status {
	s := Status{Self: v.Self, GroupKey: v.GroupKey, Group: v.Group, Leader: v.LeaderID, IsLeader: v.Leader, Reason: v.Reason, Candidates: []StatusCandidate{}}
	for _, i := range candidates {
		c := StatusCandidate{ID: i.ID, LaunchTime: i.LaunchTime.UTC(), LeaderTag: i.Tags[elect.LeaderTag], Leader: i.ID == v.LeaderID, Self: i.ID == v.Self}
		if at, why, ok := elect.DrainOf(i); ok {
			c.Draining, c.Why = orDash(at), orDash(why)
		}
		s.Candidates = append(s.Candidates, c)
	}
	if cached != nil {
		s.CachedAt, s.CachedIsLeader = &cached.At, &cached.Leader
		s.CachedAge = now.Sub(cached.At).Round(time.Millisecond).String()
	}
	return s
}

// render prints s for people: a header, then a table of candidates.
func (s Status) render(w io.Writer) error {
	fmt.Fprintf(w, "instance  %s\ngroup     %s=%s\nleader    %s (this instance: %t)\nreason    %s\n", s.Self, s.GroupKey, s.Group, s.Leader, s.IsLeader, s.Reason)
	if s.CachedIsLeader != nil {
		fmt.Fprintf(w, "cached    leader=%t, %s old\n", *s.CachedIsLeader, s.CachedAge)
	} else {
		fmt.Fprintf(w, "cached    no verdict yet\n")
	}
	for _, p := range s.Paused {
		what := p.Job
		if what == "" {
			what = "every job"
		}
		until := "until resumed"
		if p.Until != nil {
			until = "until " + p.Until.Format(time.RFC3339)
		}
		line := fmt.Sprintf("paused    %s %s, by %s since %s", what, until, p.By, p.Since.Format(time.RFC3339))
		if p.Reason != "" {
			line += ": " + p.Reason
		}
		fmt.Fprintln(w, line)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// The last column is not padded, so no line ends in blanks.
	fmt.Fprintln(tw, "\nINSTANCE\tLAUNCHED\tTAG leader")
	for _, c := range s.Candidates {
		last := orDash(c.LeaderTag)
		if c.Leader {
			last += "  <- leader"
		}
		if c.Self {
			last += " (self)"
		}
		if c.Draining != "" {
			last += fmt.Sprintf("  draining since %s: %s", c.Draining, c.Why)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, c.LaunchTime.Format(time.RFC3339), last)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pausesOf reads the group's pauses in force from the ledger (one Query);
// a ledger that cannot be read is a warning: status is the election's.
func pausesOf(ctx context.Context, g *Globals, d *Deps, group string) []StatusPause {
	log := newLogger(d.Stderr, g.Verbose, "")
	store, err := ledgerStore(ctx, g.Ledger, "", d, log, "")
	var items []ledger.Control
	if err == nil {
		items, err = store.Controls(ctx, group)
	}
	if err != nil {
		voice.Say(d.Stderr, voice.Warning, "cannot read the ledger's controls: "+err.Error())
		return nil
	}
	var out []StatusPause
	for _, p := range (ledger.ControlSet{Items: items}).Pauses(d.Now()) {
		sp := StatusPause{Job: p.Job, By: p.Actor, Since: p.At.UTC(), Reason: p.Reason}
		if !p.Until.IsZero() {
			u := p.Until.UTC()
			sp.Until = &u
		}
		out = append(out, sp)
	}
	return out
}
