package cli

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/leadergate/leadergate/internal/emf"
	"github.com/leadergate/leadergate/ledger"
	"github.com/leadergate/leadergate/schedule"
)

// emfFlags are schedule's flags for CloudWatch metrics in the log.
type emfFlags struct {
	EMF          string `name:"emf" env:"LEADERGATE_EMF" enum:"auto,on,off" default:"auto" help:"Write CloudWatch Embedded Metric Format records (runs, failures, missed, skipped, durations, leader) into the log, for CloudWatch Logs to turn into metrics: auto (with --log-format json), on (also with text logs, as JSON lines of their own), off."`
	EMFNamespace string `name:"emf-namespace" env:"LEADERGATE_EMF_NAMESPACE" default:"leadergate" placeholder:"NS" help:"CloudWatch namespace of the --emf metrics."`
}

// withEMF adds the EMF records to opts.Hooks. Their Group dimension is the
// election's group; when the election cannot tell it yet (no ledger, the
// election failing at start), it is --group, else "unknown", and a warning
// says so: metrics are never a reason not to schedule.
// logTo is where the log goes (stderr, or --log-file).
func (c *scheduleCmd) withEMF(g *Globals, d *Deps, log *slog.Logger, logTo io.Writer, opts *schedule.Options) error {
	f, format := c.emfFlags, c.LogFormat
	if f.EMF == "off" || f.EMF == "auto" && format != "json" {
		return nil
	}
	if n := len(f.EMFNamespace); n < 1 || n > 255 {
		return usageError{fmt.Errorf("--emf-namespace %q: a CloudWatch namespace has 1 to 255 characters", f.EMFNamespace)}
	}
	var group, self string
	if t, ok := opts.Ledger.(*ledger.Turn); ok {
		group, self = t.Group, t.Ledger.Owner
	} else if who, err := g.whoLeads(d, log, time.Time{}); err == nil {
		group, self = who.group, who.self
	} else {
		group = g.Group
		log.Warn("metrics records (--emf) will say Group="+cmp.Or(group, "unknown")+": the election could not tell this instance's group", "error", err)
	}
	if self == "" {
		self, _ = os.Hostname()
	}
	out := log
	if format != "json" {
		// --emf on with text logs: the records are JSON lines among the
		// text ones (CloudWatch Logs reads a metric from any line that is
		// one JSON object).
		out = schedule.NewLogger(logTo, "json", slog.LevelInfo)
	}
	h := emf.New(emf.Options{Logger: out, Namespace: f.EMFNamespace, Group: group, Instance: self, Now: d.Now})
	if opts.Hooks != nil {
		opts.Hooks = schedule.MultiHooks{opts.Hooks, h}
	} else {
		opts.Hooks = h
	}
	return nil
}
