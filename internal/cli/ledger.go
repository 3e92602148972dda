package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

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
	Limit  int           `env:"LEADERGATE_LIMIT" default:"50" placeholder:"N" help:"At most N runs."`
	JSON   bool          `env:"LEADERGATE_JSON" help:"One JSON object per line, for scripts."`
	Region string        `env:"LEADERGATE_REGION" placeholder:"REGION" help:"AWS region (default: AWS_REGION, or this instance's)."`
}

func (c *historyCmd) Run(g *Globals, d *Deps) error {
	if g.Ledger == "" {
		return usageError{errors.New("history: no ledger; pass --ledger TABLE or set LEADERGATE_LEDGER")}
	}
	if c.Limit <= 0 || c.Since <= 0 {
		return usageError{errors.New("history: --limit and --since must be positive")}
	}
	log := newLogger(d.Stderr, g.Verbose, "")
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	group := g.Group
	if group == "" {
		// On an instance: its own group, as the election reads it. Off
		// EC2 (no identity) no retry helps: Main names --group.
		if _, err := d.AWS(log).Self(ctx); err != nil {
			return fmt.Errorf("history: cannot tell this instance's group: %w", err)
		}
		e, err := g.elector(d, log)
		if err != nil {
			return err
		}
		v, err := e.Decide(ctx, elect.Request{})
		if err != nil {
			return fmt.Errorf("history: cannot tell this instance's group (off EC2, pass --group VALUE): %w", err)
		}
		group = v.Group
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
	for i, r := range recs {
		// A run still "running" past its lease died with its instance,
		// whether or not anyone has recorded it lost yet (in prefix mode
		// nobody looks at that tick again).
		recs[i] = r.AsOf(now)
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
	fmt.Fprintln(w, "TICK\tJOB\tSTATE\tINSTANCE\tEXIT\tDURATION\tATTEMPT")
	for _, r := range recs {
		exit, dur := "-", "-" // a lost run's end is not known
		if r.State == ledger.Succeeded || r.State == ledger.Failed {
			exit = strconv.Itoa(r.ExitCode)
		}
		if r.State != ledger.Lost {
			dur = r.Duration(now).Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.TickString(), r.Job, r.State, r.Owner, exit, dur, r.Attempt)
	}
	return w.Flush()
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
}

func historyJSON(r ledger.Record, now time.Time) historyLine {
	h := historyLine{Tick: r.Tick.UTC(), Job: r.Job, State: string(r.State), Instance: r.Owner, Started: r.Started.UTC(),
		Seconds: r.Duration(now).Seconds(), Attempt: r.Attempt, Fence: r.Fence, RunID: r.RunID()}
	if r.State == ledger.Succeeded || r.State == ledger.Failed {
		h.ExitCode = &r.ExitCode
	}
	if !r.Finished.IsZero() {
		f := r.Finished.UTC()
		h.Finished = &f
	}
	return h
}

// ledgerStore builds the DynamoDB store on the process's one AWS
// configuration: region from --region, else AWS_REGION, else this
// instance's identity.
func ledgerStore(ctx context.Context, table, region string, d *Deps, log *slog.Logger, fallbackRegion string) (*ledger.DynamoDB, error) {
	if err := ledger.CheckTable(table); err != nil {
		return nil, err
	}
	for _, r := range []string{fallbackRegion, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")} {
		if region == "" {
			region = r
		}
	}
	cfg, err := d.AWS(log).ConfigIn(ctx, region)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err) // off EC2: Main adds the flags that help
	}
	return ledger.NewDynamoDB(cfg, table, d.Now)
}
