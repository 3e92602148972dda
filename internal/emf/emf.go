// Package emf writes the scheduler's metrics into its JSON log as
// CloudWatch Embedded Metric Format (EMF) records, from the scheduler's
// hooks (schedule.Hooks).
//
// A record is one log line, one JSON object: the metric values and their
// dimensions are members of the object, and its "_aws" member tells
// CloudWatch Logs which members are metrics, in which namespace, with which
// dimensions. When the line reaches CloudWatch Logs (Elastic Beanstalk's
// log streaming, the CloudWatch agent, awslogs), the metrics are extracted
// there: no agent configuration, no API call and no permission on the
// instance, no scrape, no metrics build.
//
// # What is written
//
// One record per event, when it happens: a run's end, a run found lost, a
// missed or skipped tick, a leadership check, a takeover, a catch-up, a
// drain. Every record has the dimension Group (the election group: on
// Elastic Beanstalk the environment id) and the instance's id as the plain
// member Instance, which is not a dimension: instances come and go with
// every deploy, and each new value of a dimension is a new custom metric.
// docs/operations.md lists every metric and its dimensions.
//
// # Guarantees and limits
//
// A record follows the EMF specification (the package's tests validate
// every record against its rules). CloudWatch Logs extracts metrics at
// least once: a log line shipped twice counts twice. Records are written
// only through the logger given, which must be a JSON one: the CLI gives
// the scheduler's own with --log-format json, and with text logs (--emf on)
// a JSON logger on the same output, so that each record is a line of its
// own.
package emf

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/leadergate/leadergate/schedule"
)

// DefaultNamespace is the CloudWatch namespace of the metrics unless
// Options.Namespace says otherwise.
const DefaultNamespace = "leadergate"

// Message is the "msg" of every record, so that Logs Insights can leave
// them out (filter msg != "metrics") or pick them.
const Message = "metrics"

// Dimension names (root members with string values).
const (
	DimGroup  = "Group"
	DimJob    = "Job"
	DimResult = "Result" // a run's outcome, or an election's
	DimReason = "Reason" // why a tick was skipped
)

// Units of the EMF specification used here.
const (
	unitCount   = "Count"
	unitSeconds = "Seconds"
	unitNone    = "None"
)

// Options configure Hooks.
type Options struct {
	Logger    *slog.Logger // a JSON logger (schedule.NewLogger(w, "json", ...))
	Namespace string       // "" means DefaultNamespace
	Group     string       // the Group dimension's value; "" is written as "unknown"
	Instance  string       // this instance, a plain member of every record
	Now       func() time.Time
}

// Hooks implements schedule.Hooks, writing one EMF record per event.
type Hooks struct {
	schedule.NopHooks
	o Options
}

// New returns the hooks.
func New(o Options) *Hooks {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Group == "" {
		o.Group = "unknown"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hooks{o: o}
}

// Metadata is the "_aws" member of a record.
type Metadata struct {
	Timestamp         int64       `json:"Timestamp"` // milliseconds since the Unix epoch
	CloudWatchMetrics []Directive `json:"CloudWatchMetrics"`
}

// Directive says which root members are metrics and with which dimensions.
type Directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []Metric   `json:"Metrics"`
}

// Metric names a root member holding a metric's value.
type Metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

// MaxMetrics is the most metrics one directive may list (EMF specification).
const MaxMetrics = 100

// record is one EMF record being built.
type record struct {
	ns    string
	dirs  []Directive
	attrs []slog.Attr
}

// metric adds a directive: metrics (name, unit pairs) over the dimension
// sets dims.
func (r *record) directive(dims [][]string, metrics ...Metric) {
	r.dirs = append(r.dirs, Directive{Namespace: r.ns, Dimensions: dims, Metrics: metrics})
}

func (r *record) set(attrs ...slog.Attr) { r.attrs = append(r.attrs, attrs...) }

func (h *Hooks) newRecord(event string) *record {
	return &record{ns: h.o.Namespace, attrs: []slog.Attr{
		slog.String("event", event),
		slog.String(DimGroup, h.o.Group),
		slog.String("Instance", h.o.Instance),
	}}
}

func (h *Hooks) write(r *record) {
	for _, d := range r.dirs {
		if len(d.Metrics) > MaxMetrics {
			panic("emf: a directive lists more than 100 metrics") // a bug here, not an input
		}
	}
	meta := Metadata{Timestamp: h.o.Now().UnixMilli(), CloudWatchMetrics: r.dirs}
	attrs := append([]slog.Attr{slog.Any("_aws", meta)}, r.attrs...)
	h.o.Logger.LogAttrs(context.Background(), slog.LevelInfo, Message, attrs...)
}

var (
	group         = []string{DimGroup}
	groupJob      = []string{DimGroup, DimJob}
	groupResult   = []string{DimGroup, DimResult}
	groupJobRes   = []string{DimGroup, DimJob, DimResult}
	groupJobWhy   = []string{DimGroup, DimJob, DimReason}
	groupWhy      = []string{DimGroup, DimReason}
	count         = func(name string) Metric { return Metric{Name: name, Unit: unitCount} }
	seconds       = func(name string) Metric { return Metric{Name: name, Unit: unitSeconds} }
	dimensionless = func(name string) Metric { return Metric{Name: name, Unit: unitNone} }
)

// Finished writes a run's end: Runs by Result (per job and for the
// group), Failures (1 for anything but success, as pings and the failure
// hook count it; 0 otherwise, so the metric exists before the first
// failure), Duration and Lateness per job.
func (h *Hooks) Finished(run schedule.RunInfo, res schedule.Result) {
	r := h.newRecord("run finished")
	r.directive([][]string{groupJobRes, groupResult}, count("Runs"))
	r.directive([][]string{groupJob, group}, count("Failures"))
	timing := []Metric{seconds("Lateness")}
	if res.Outcome != schedule.NotStarted {
		timing = append(timing, seconds("Duration"))
		r.set(slog.Float64("Duration", res.Duration.Seconds()))
	}
	r.directive([][]string{groupJob}, timing...)
	r.set(
		slog.String(DimJob, run.Job.Name),
		slog.String(DimResult, res.Outcome),
		slog.Int("Runs", 1),
		slog.Int("Failures", b2i(res.Failure())),
		slog.Float64("Lateness", run.Lateness.Seconds()),
		slog.String("Tick", run.Tick.UTC().Format(time.RFC3339)),
		slog.String("RunId", run.ID),
		slog.Int("Attempt", run.Attempt),
		slog.Int("ExitCode", res.Code),
	)
	h.write(r)
}

// LostRun writes a run found lost with its instance as a run whose Result
// is lost, and a failure.
func (h *Hooks) LostRun(run schedule.RunInfo) {
	r := h.newRecord("run lost")
	r.directive([][]string{groupJobRes, groupResult}, count("Runs"))
	r.directive([][]string{groupJob, group}, count("Failures"))
	r.set(
		slog.String(DimJob, run.Job.Name),
		slog.String(DimResult, schedule.Lost),
		slog.Int("Runs", 1),
		slog.Int("Failures", 1),
		slog.String("Tick", run.Tick.UTC().Format(time.RFC3339)),
		slog.String("RunId", run.ID),
		slog.Int("Attempt", run.Attempt),
	)
	h.write(r)
}

// Missed writes a tick that no instance ran and none recorded a reason
// for, found by this instance (once fleet-wide): Missed, per job and for
// the group.
func (h *Hooks) Missed(job schedule.Job, tick time.Time) {
	r := h.newRecord("tick missed")
	r.directive([][]string{groupJob, group}, count("Missed"))
	r.set(
		slog.String(DimJob, job.Name),
		slog.Int("Missed", 1),
		slog.String("Tick", tick.UTC().Format(time.RFC3339)),
	)
	h.write(r)
}

// Skipped writes a tick this instance did not run on purpose, per job and
// for the group, by Reason: the reason's first word ("paused by
// arn:...: migration" is paused), because every distinct value of a
// dimension is a metric of its own; the whole reason is the plain member
// Why.
func (h *Hooks) Skipped(job schedule.Job, tick time.Time, reason string) {
	r := h.newRecord("tick skipped")
	r.directive([][]string{groupJobWhy, groupWhy}, count("Skipped"))
	r.set(
		slog.String(DimJob, job.Name),
		slog.String(DimReason, category(reason)),
		slog.String("Why", reason),
		slog.Int("Skipped", 1),
		slog.String("Tick", tick.UTC().Format(time.RFC3339)),
	)
	h.write(r)
}

// category is the first word of reason, lower case, at most 32 letters;
// "unknown" when it has none.
func category(reason string) string {
	end := strings.IndexFunc(reason, func(c rune) bool { return !unicode.IsLetter(c) && c != '-' && c != '_' })
	if end < 0 {
		end = len(reason)
	}
	w := strings.ToLower(reason[:end])
	if len(w) > 32 {
		w = w[:32]
	}
	if w == "" {
		return "unknown"
	}
	return w
}

// Leadership writes each background leadership check: Elections by Result
// (leader, follower, error) and, when the check answered, Leader (1 or 0).
// Every instance checks once a --refresh (1m), so the group's Leader Sum
// per minute is about how many instances lead: 1.
func (h *Hooks) Leadership(leader bool, err error) {
	r := h.newRecord("leadership checked")
	result := "follower"
	switch {
	case err != nil:
		result = "error"
	case leader:
		result = "leader"
	}
	r.directive([][]string{groupResult}, count("Elections"))
	r.set(slog.String(DimResult, result), slog.Int("Elections", 1))
	if err == nil {
		r.directive([][]string{group}, dimensionless("Leader"))
		r.set(slog.Int("Leader", b2i(leader)))
	}
	h.write(r)
}

// Claimed writes TakeOvers for a tick this instance took over (the leader
// did not claim it in time, or a lost run is rerun). A won tick shows in
// Runs; a tick taken elsewhere is written by whoever took it, and writing
// it on every follower would multiply the log by the fleet's size.
func (h *Hooks) Claimed(job schedule.Job, _ time.Time, result string) {
	if result != schedule.ClaimTakenOver {
		return
	}
	r := h.newRecord("tick taken over")
	r.directive([][]string{group}, count("TakeOvers"))
	r.set(slog.String(DimJob, job.Name), slog.Int("TakeOvers", 1))
	h.write(r)
}

// CaughtUp writes CatchUps: a tick missed while no scheduler ran, claimed
// here to run late.
func (h *Hooks) CaughtUp(job schedule.Job, tick time.Time) {
	r := h.newRecord("tick caught up")
	r.directive([][]string{group}, count("CatchUps"))
	r.set(slog.String(DimJob, job.Name), slog.Int("CatchUps", 1),
		slog.String("Tick", tick.UTC().Format(time.RFC3339)))
	h.write(r)
}

// Drained writes Drains: this instance stepped down.
func (h *Hooks) Drained() {
	r := h.newRecord("drained")
	r.directive([][]string{group}, count("Drains"))
	r.set(slog.Int("Drains", 1))
	h.write(r)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

var _ schedule.Hooks = (*Hooks)(nil)
