package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/voice"
	"github.com/leadergate/leadergate/ledger"
)

// ledgerCmd groups the administrator's ledger commands.
type ledgerCmd struct {
	Create ledgerCreateCmd `cmd:"" help:"Create the ledger's DynamoDB table (on-demand, TTL on), or check an existing one."`
}

type ledgerCreateCmd struct {
	Table  string `env:"LEADERGATE_TABLE" placeholder:"NAME" help:"The table's name (default: --ledger, else leadergate-ledger)."`
	Region string `env:"LEADERGATE_REGION" placeholder:"REGION" help:"AWS region (default: AWS_REGION, or this instance's)."`
}

func (c *ledgerCreateCmd) Run(g *Globals, d *Deps) error {
	ctx, cancel := context.WithTimeout(context.Background(), max(g.Timeout, 2*time.Minute))
	defer cancel()
	table := c.Table
	if table == "" {
		table = g.Ledger
	}
	if table == "" {
		table = ledger.DefaultTable
	}
	store, err := ledgerStore(ctx, table, c.Region, d, newLogger(d.Stderr, g.Verbose, ""), "")
	if err != nil {
		return err
	}
	created, err := store.Ensure(ctx, 2*time.Second)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(d.Stdout, "created table %s (on-demand, TTL on attribute ttl); run with --ledger %s\n", table, table)
	} else {
		fmt.Fprintf(d.Stdout, "table %s is ready; run with --ledger %s\n", table, table)
	}
	return nil
}

type historyCmd struct {
	Job    string        `placeholder:"NAME" help:"Only this job's runs."`
	Since  time.Duration `env:"LEADERGATE_SINCE" default:"168h" placeholder:"D" help:"Runs whose tick is at most D old."`
	Limit  int           `env:"LEADERGATE_LIMIT" placeholder:"N" help:"At most N runs, the newest (default: 50; with --html 1000)."`
	JSON   bool          `env:"LEADERGATE_JSON" help:"One JSON object per line, for scripts."`
	HTML   string        `name:"html" env:"LEADERGATE_HTML" placeholder:"FILE" help:"Write the runs as one self-contained HTML page to FILE (- for stdout): each job's ticks on a timeline, by instance, with failures, lost, missed, skipped and paused ticks and where leadership moved."`
	Region string        `env:"LEADERGATE_REGION" placeholder:"REGION" help:"AWS region (default: AWS_REGION, or this instance's)."`
}

func (c *historyCmd) Run(g *Globals, d *Deps) error {
	if g.Ledger == "" {
		return usageError{errors.New("history: no ledger; pass --ledger TABLE or set LEADERGATE_LEDGER")}
	}
	if c.Limit < 0 || c.Since <= 0 {
		return usageError{errors.New("history: --limit and --since must be positive")}
	}
	if c.Limit == 0 {
		// A page draws each job's ticks over time: 50 records would be
		// an hour of one every-minute job.
		c.Limit = 50
		if c.HTML != "" {
			c.Limit = 1000
		}
	}
	if c.HTML != "" && c.JSON {
		return usageError{errors.New("history: --html and --json: choose one")}
	}
	if c.HTML != "" && errNoPicture != nil {
		return errNoPicture // before any call to the ledger
	}
	log := newLogger(d.Stderr, g.Verbose, "")
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	group, err := g.ledgerGroup(ctx, d, log, "history")
	if err != nil {
		return err
	}
	store, err := ledgerStore(ctx, g.Ledger, c.Region, d, log, "")
	if err != nil {
		return err
	}
	now := d.Now()
	recs, err := store.Recent(ctx, group, c.Job, now.Add(-c.Since), c.Limit)
	if err != nil {
		return err
	}
	cut := len(recs) == c.Limit
	kept := recs[:0]
	for _, r := range recs {
		// A deploy task's or a service's record (once, service) sorts
		// above every tick: it counts from when it started, and a
		// service that runs is always listed.
		if r.Untimed() && r.State != ledger.Running && r.Started.Before(now.Add(-c.Since)) {
			continue
		}
		// A run still "running" past its lease died with its instance,
		// whether or not anyone has recorded it lost yet (in prefix mode
		// nobody looks at that tick again).
		kept = append(kept, r.AsOf(now))
	}
	recs = kept
	if cut {
		// Never a silent cut: the oldest shown is not the oldest there is.
		what := "runs"
		if c.Limit == 1 {
			what = "run"
		}
		voice.Say(d.Stderr, voice.Info, fmt.Sprintf("only the newest %d %s; older ones within --since %s are not shown (raise --limit)", c.Limit, what, c.Since))
	}
	if c.HTML != "" {
		// Deploy tasks and services are drawn from when they started.
		return c.writeHistoryHTML(d, group, recs, now)
	}
	if c.JSON {
		enc := json.NewEncoder(d.Stdout)
		for _, r := range recs {
			if err := enc.Encode(historyJSON(r, now)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(recs) == 0 {
		voice.Say(d.Stderr, voice.Info, fmt.Sprintf("no runs of %s in the last %s", orAll(c.Job, group), c.Since))
		return nil
	}
	w := tabwriter.NewWriter(d.Stdout, 0, 0, 2, ' ', 0)
	// NOTE (a trigger, a control, why a tick did not run) only when a
	// line has one: lines end at their last value.
	header := "TICK\tJOB\tSTATE\tINSTANCE\tEXIT\tDURATION\tATTEMPT"
	for _, r := range recs {
		if historyNote(r) != "" {
			header += "\tNOTE"
			break
		}
	}
	fmt.Fprintln(w, header)
	for _, r := range recs {
		exit, dur, attempt := "-", "-", strconv.Itoa(r.Attempt) // a lost run's end is not known
		if r.State == ledger.Succeeded || r.State == ledger.Failed {
			exit = strconv.Itoa(r.ExitCode)
		}
		switch r.State {
		case ledger.Lost, ledger.Skipped, ledger.Missed, ledger.ControlRecord: // no run, or its end is not known
		default: // a running run: how long so far
			dur = r.Duration(now).Round(time.Second).String()
		}
		if r.Attempt == 0 {
			attempt = "-" // a tick not run
		}
		who, job := r.Owner, r.Job
		if r.State == ledger.ControlRecord || r.State == ledger.Skipped && r.Owner == "" {
			who, attempt = r.Actor, "-" // an operator's, not a run
		}
		if job == "" {
			job = "(all)"
		}
		tick := r.Tick
		if r.Untimed() {
			tick = r.Started // once and service: when it started
		}
		line := strings.Join([]string{tick.UTC().Format(ledger.TickFormat), job, string(r.State), who, exit, dur, attempt}, "\t")
		if note := historyNote(r); note != "" {
			line += "\t" + note
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}

// historyNote says what a record is besides a run of its tick: a
// trigger's run, a rerun, why a tick did not run, what a control was.
func historyNote(r ledger.Record) string {
	var parts []string
	if strings.HasPrefix(r.Ref, "trigger#") {
		parts = append(parts, "triggered")
	}
	if r.Request != "" {
		parts = append(parts, "asked by an operator")
	}
	if r.State == ledger.ControlRecord {
		parts = append(parts, strings.TrimSpace(r.Action+" "+r.Detail))
	}
	if r.Reason != "" {
		parts = append(parts, r.Reason)
	}
	return strings.Join(parts, ": ")
}

func orAll(job, group string) string {
	if job != "" {
		return strconv.Quote(job)
	}
	return "group " + group
}

type historyLine struct {
	Tick     time.Time  `json:"tick"`
	Job      string     `json:"job"`
	State    string     `json:"state"`
	Instance string     `json:"instance"`
	ExitCode *int       `json:"exit_code"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished"`
	Seconds  float64    `json:"duration_seconds"`
	Attempt  int        `json:"attempt"`
	Fence    int64      `json:"fence"`
	RunID    string     `json:"run_id"`
	Ref      string     `json:"ref,omitempty"`         // trigger#ID for a triggered run, control#ID for a control
	Reason   string     `json:"reason,omitempty"`      // why skipped or missed, why a control
	Actor    string     `json:"actor,omitempty"`       // who gave a control (a caller ARN)
	Action   string     `json:"action,omitempty"`      // which control
	Detail   string     `json:"detail,omitempty"`      // its arguments
	Tail     string     `json:"output_tail,omitempty"` // a failed run's last output (ledger.MaxTail)
	Request  string     `json:"request,omitempty"`
}

func historyJSON(r ledger.Record, now time.Time) historyLine {
	h := historyLine{Tick: r.Tick.UTC(), Job: r.Job, State: string(r.State), Instance: r.Owner, Started: r.Started.UTC(),
		Seconds: r.Duration(now).Seconds(), Attempt: r.Attempt, Fence: r.Fence, RunID: r.RunID(),
		Ref: r.Ref, Reason: r.Reason, Actor: r.Actor, Action: r.Action, Detail: r.Detail, Request: r.Request, Tail: r.Tail}
	if r.State == ledger.Succeeded || r.State == ledger.Failed {
		h.ExitCode = &r.ExitCode
	}
	if !r.Finished.IsZero() {
		f := r.Finished.UTC()
		h.Finished = &f
	}
	return h
}

// ledgerGroup is --group, else (on an instance) its own group, as the
// election reads it.
func (g *Globals) ledgerGroup(ctx context.Context, d *Deps, log *slog.Logger, cmd string) (string, error) {
	if g.Group != "" {
		return g.Group, nil
	}
	// Off EC2 (no identity) no retry helps: Main names --group.
	if _, err := d.AWS(log).Self(ctx); err != nil {
		return "", fmt.Errorf("%s: cannot tell this instance's group: %w", cmd, err)
	}
	e, err := g.elector(d, log)
	if err != nil {
		return "", err
	}
	v, err := e.Decide(ctx, elect.Request{})
	if err != nil {
		return "", fmt.Errorf("%s: cannot tell this instance's group (off EC2, pass --group VALUE): %w", cmd, err)
	}
	return v.Group, nil
}

// ledgerStore builds the DynamoDB store on the process's one AWS
// configuration: region from --region, else AWS_REGION, else this
// instance's identity.
func ledgerStore(ctx context.Context, table, region string, d *Deps, log *slog.Logger, fallbackRegion string) (*ledger.DynamoDB, error) {
	if err := ledger.CheckTable(table); err != nil {
		return nil, err
	}
	cfg, err := ledgerConfig(ctx, region, d, log, fallbackRegion)
	if err != nil {
		return nil, err
	}
	return ledger.NewDynamoDB(cfg, table, d.Now)
}

// ledgerConfig is the process's one AWS configuration in the ledger's
// region (also for the caller's identity a control records).
func ledgerConfig(ctx context.Context, region string, d *Deps, log *slog.Logger, fallbackRegion string) (aws.Config, error) {
	for _, r := range []string{fallbackRegion, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")} {
		if region == "" {
			region = r
		}
	}
	cfg, err := d.AWS(log).ConfigIn(ctx, region)
	if err != nil {
		return aws.Config{}, fmt.Errorf("ledger: %w", err) // off EC2: Main adds the flags that help
	}
	return cfg, nil
}
