// Package timeline draws the tick ledger's records as one self-contained
// HTML page: for each job, its recent ticks on a time axis, one lane per
// instance that ran them, so that who ran what, for how long, what failed,
// was lost, missed, skipped or paused, and where leadership moved can be
// read at a glance. It is what `leadergate history --html FILE` writes.
//
// The page needs nothing but itself: inline SVG and CSS, no script, no
// font, image or style sheet from anywhere, so it opens from a file, an
// e-mail attachment or an S3 bucket without a network. Every mark has a
// tooltip (an SVG <title>) with the whole record, and every tick is also
// in a table, so nothing is only in the picture.
//
// States are strings: the ones known here get their own colour and shape
// (succeeded, failed, lost, running, missed, skipped, paused); any other is
// drawn as a grey mark named by its state, never dropped.
package timeline

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/leadergate/leadergate/ledger"
)

// Options say what the page is about.
type Options struct {
	Group string    // the election group (the environment), in the title
	Now   time.Time // when the page is made: the end of running bars
	Since time.Duration
}

// Geometry of a job's chart, in SVG user units (the chart scales to the
// page's width).
const (
	width     = 1000.0
	laneLabel = 170.0 // the left column with the instance names
	plotLeft  = laneLabel + 10
	plotRight = width - 15
	laneH     = 24.0
	markH     = 14.0
	axisH     = 20.0
	minBar    = 4.0 // a run of a second is still visible
)

// States known here, in the order the counts list them; anything else
// follows, sorted.
var known = []string{
	string(ledger.Succeeded), string(ledger.Failed), string(ledger.Lost),
	string(ledger.Running), string(ledger.Missed), string(ledger.Skipped), "paused",
	string(ledger.ControlRecord),
}

type view struct {
	Title     string
	Generated string
	Range     string
	Width     float64
	PlotLeft  float64
	PlotRight float64
	Legend    []legend
	Fleet     fleet
	Jobs      []jobView
	Empty     bool
}

type legend struct{ State, Class, Shape string }

type axisMark struct {
	X     float64
	Label string
}

type fleet struct {
	Height   float64
	AxisY    float64
	Axis     []axisMark
	Segments []segment
	Moves    []row
	AllMoves int // Moves lists the newest maxListed
}

// maxListed is how many lines a list under a chart shows (newest first for
// failures, the latest moves of leadership); the folded table has all.
const maxListed = 20

type segment struct {
	X, W     float64
	Instance string
	Class    string
	Label    string // "" when the segment is too narrow for it
	Title    string
}

type jobView struct {
	Job           string // as in the ledger ("" for the group's own controls)
	Name          string // as shown
	ID            string
	Counts        []stateCount
	Moves         int
	Height        float64
	AxisY         float64
	Axis          []axisMark
	Lanes         []lane
	Marks         []mark
	Handovers     []handover
	Attention     []row
	MoreAttention int // not listed: the table has them
	Controls      []row
	Rows          []row
}

type stateCount struct {
	State, Class string
	N            int
}

type lane struct {
	Y, TextY float64
	Label    string
	Full     string
}

type mark struct {
	Shape       string // bar, missed, skipped, paused, other
	Class       string
	State, Tick string
	Instance    string
	X, Y, W, H  float64
	CX, CY      float64
	Title       string
	Points      string // for polygons
}

type handover struct {
	X, Y1, Y2 float64
	From, To  string
	Title     string
}

type row struct {
	// At is the tick, or a control's time, without the key's reference.
	At string

	Tick, State, Class, Instance, Exit, Duration, Attempt, Fence, Note string

	// Tail is a failed run's last output.
	Tail string
}

func build(recs []ledger.Record, o Options) view {
	now := o.Now.UTC()
	v := view{
		Title:     "leadergate: the ticks of " + cmp.Or(o.Group, "the fleet"),
		Generated: now.Format("2006-01-02 15:04:05Z"),
		Width:     width, PlotLeft: plotLeft, PlotRight: plotRight,
	}
	for _, s := range known {
		v.Legend = append(v.Legend, legend{State: s, Class: class(s), Shape: shape(s)})
	}
	recs = placed(recs)
	if len(recs) == 0 {
		v.Empty = true
		v.Range = "no ticks in the last " + human(o.Since)
		return v
	}
	// sort.SliceStable, not slices.SortStableFunc: a generic sort compiles
	// a copy of itself for each struct type, and the binary every cron line
	// starts must stay under 16 MiB.
	sort.SliceStable(recs, func(i, j int) bool {
		return cmp.Or(recs[i].Tick.Compare(recs[j].Tick), strings.Compare(recs[i].Job, recs[j].Job)) < 0
	})
	t0, t1 := recs[0].Tick, recs[0].Tick
	for _, r := range recs {
		t0 = minTime(t0, r.Tick)
		t1 = maxTime(t1, maxTime(r.Tick, end(r, now)))
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Minute)
	}
	// A little room at both ends, so the first and last marks are whole.
	pad := t1.Sub(t0) / 40
	t0, t1 = t0.Add(-pad), t1.Add(pad)
	x := func(t time.Time) float64 {
		return plotLeft + (plotRight-plotLeft)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	v.Range = fmt.Sprintf("%s to %s (UTC), %d ticks", stamp(recs[0].Tick), stamp(recs[len(recs)-1].Tick), len(recs))
	axis := axisMarks(t0, t1, x)

	palette := map[string]string{}
	inst := func(owner string) string {
		if _, ok := palette[owner]; !ok {
			palette[owner] = "i" + strconv.Itoa(len(palette)%8)
		}
		return palette[owner]
	}
	v.Fleet = fleetView(recs, now, x, inst, axis)

	byJob := map[string][]ledger.Record{}
	var names []string
	for _, r := range recs {
		if _, ok := byJob[r.Job]; !ok {
			names = append(names, r.Job)
		}
		byJob[r.Job] = append(byJob[r.Job], r)
	}
	slices.Sort(names)
	for i, name := range names {
		v.Jobs = append(v.Jobs, jobChart(name, i, byJob[name], now, x, axis))
	}
	return v
}

// fleetView is the strip of who ran the fleet's ticks: one band per run of
// consecutive ticks (of any job) by the same instance; a new band is a
// move of leadership.
func fleetView(recs []ledger.Record, now time.Time, x func(time.Time) float64, inst func(string) string, axis []axisMark) fleet {
	f := fleet{Height: laneH + axisH + 8, AxisY: laneH + 6}
	f.Axis = axis
	var owned []ledger.Record
	for _, r := range recs {
		if ran(r) && !untimed(r) { // a deploy task or a service is not the leader's
			owned = append(owned, r)
		}
	}
	for i := 0; i < len(owned); {
		j := i
		for j < len(owned) && owned[j].Owner == owned[i].Owner {
			j++
		}
		from := x(owned[i].Tick)
		to := plotRight
		last := owned[j-1]
		if j < len(owned) {
			to = x(owned[j].Tick)
		} else {
			to = math.Max(x(end(last, now)), from+minBar)
		}
		s := segment{X: from, W: math.Max(to-from, minBar), Instance: owned[i].Owner, Class: inst(owned[i].Owner)}
		n := j - i
		s.Title = fmt.Sprintf("%s ran %d %s from %s to %s", owned[i].Owner, n, plural(n, "tick", "ticks"), stamp(owned[i].Tick), stamp(last.Tick))
		if s.W > 9*float64(len(s.Instance)) {
			s.Label = s.Instance
		}
		f.Segments = append(f.Segments, s)
		if i > 0 {
			prev := owned[i-1]
			f.Moves = append(f.Moves, row{
				Tick: stamp(owned[i].Tick), Instance: owned[i].Owner,
				Note: fmt.Sprintf("%s → %s (%s ran %s, %s ran %s)", prev.Owner, owned[i].Owner, prev.Owner, prev.String(), owned[i].Owner, owned[i].String()),
			})
		}
		i = j
	}
	f.AllMoves = len(f.Moves)
	if len(f.Moves) > maxListed {
		f.Moves = f.Moves[len(f.Moves)-maxListed:]
	}
	return f
}

func jobChart(name string, n int, recs []ledger.Record, now time.Time, x func(time.Time) float64, axis []axisMark) jobView {
	jv := jobView{Job: name, Name: name, ID: "job-" + strconv.Itoa(n), Axis: axis}
	switch {
	case name == "":
		jv.Name = groupWide
	case strings.HasPrefix(name, ledger.OncePrefix):
		jv.Name = strings.TrimPrefix(name, ledger.OncePrefix) + " (leadergate once: a deploy task)"
	case strings.HasPrefix(name, ledger.ServicePrefix):
		jv.Name = strings.TrimPrefix(name, ledger.ServicePrefix) + " (leadergate service)"
	}
	// Lanes: instances in the order they first have a tick of this job,
	// then ticks nobody ran, then operators' controls.
	laneOf := map[string]int{}
	var lanes []string
	add := func(l string) {
		if _, ok := laneOf[l]; !ok {
			laneOf[l] = len(lanes)
			lanes = append(lanes, l)
		}
	}
	for _, r := range recs {
		if l := laneFor(r); l != noInstance && l != operators {
			add(l)
		}
	}
	for _, l := range []string{noInstance, operators} {
		for _, r := range recs {
			if laneFor(r) == l {
				add(l)
				break
			}
		}
	}
	for i, l := range lanes {
		label := l
		if len(label) > 24 {
			label = label[:23] + "…"
		}
		jv.Lanes = append(jv.Lanes, lane{Y: float64(i) * laneH, TextY: float64(i)*laneH + laneH/2 + 4, Label: label, Full: l})
	}
	jv.AxisY = float64(len(lanes))*laneH + 4
	jv.Height = jv.AxisY + axisH

	counts := map[string]int{}
	var prev *ledger.Record
	for i := range recs {
		r := recs[i]
		k := kind(r)
		counts[k]++
		y := float64(laneOf[laneFor(r)])*laneH + (laneH-markH)/2
		m := mark{Shape: shape(k), Class: class(k), State: k, Tick: r.TickString(), Instance: r.Owner, Title: describe(r, now)}
		switch m.Shape {
		case "bar":
			from := r.Started
			if from.IsZero() {
				from = r.Tick
			}
			x1, x2 := x(from), x(end(r, now))
			m.X, m.Y, m.W, m.H = x1, y, math.Max(x2-x1, minBar), markH
		default:
			m.CX, m.CY = x(r.Tick), y+markH/2
			m.X, m.Y, m.W, m.H = m.CX-markH/2, y, markH, markH
			h := markH / 2
			m.Points = fmt.Sprintf("%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f", m.CX, m.CY-h, m.CX+h, m.CY, m.CX, m.CY+h, m.CX-h, m.CY)
			if m.Shape == "control" { // a flag: pole at the time, pennant to its right
				m.Points = fmt.Sprintf("%.1f,%.1f %.1f,%.1f %.1f,%.1f", m.CX, m.CY-h, m.CX+h+3, m.CY-h/2, m.CX, m.CY)
			}
		}
		jv.Marks = append(jv.Marks, m)
		if ran(r) {
			if prev != nil && prev.Owner != r.Owner {
				ya := float64(laneOf[prev.Owner])*laneH + laneH/2
				yb := float64(laneOf[r.Owner])*laneH + laneH/2
				jv.Handovers = append(jv.Handovers, handover{
					X: x(r.Tick) - 2, Y1: ya, Y2: yb, From: prev.Owner, To: r.Owner,
					Title: fmt.Sprintf("leadership moved: %s ran %s, %s ran %s", prev.Owner, prev.TickString(), r.Owner, r.TickString()),
				})
			}
			prev = &recs[i]
		}
	}
	jv.Moves = len(jv.Handovers)
	for _, s := range orderedStates(counts) {
		jv.Counts = append(jv.Counts, stateCount{State: s, Class: class(s), N: counts[s]})
	}
	for i := len(recs) - 1; i >= 0; i-- { // newest first, as history lists them
		r := tableRow(recs[i], now)
		jv.Rows = append(jv.Rows, r)
		switch kind(recs[i]) {
		case string(ledger.Succeeded), string(ledger.Running):
		case string(ledger.ControlRecord):
			jv.Controls = append(jv.Controls, r)
		default:
			if len(jv.Attention) < maxListed {
				jv.Attention = append(jv.Attention, r)
			} else {
				jv.MoreAttention++
			}
		}
	}
	return jv
}

// Lanes that are not instances.
const (
	noInstance = "no instance" // ticks nobody ran: missed, skipped by an operator
	operators  = "operators"   // controls: pause, resume, trigger, skip, ...
)

// groupWide names the controls given to the whole group (no job).
const groupWide = "all jobs (controls for the whole group)"

// laneFor is the lane of a record: the instance that ran or skipped it; a
// missed tick is nobody's, whoever found it.
func laneFor(r ledger.Record) string {
	switch kind(r) {
	case string(ledger.ControlRecord):
		return operators
	case string(ledger.Missed):
		return noInstance
	}
	return cmp.Or(r.Owner, noInstance)
}

// kind is what a record is drawn as: its state, except that a tick skipped
// because its job was paused is "paused".
func kind(r ledger.Record) string {
	if r.State == ledger.Skipped && strings.HasPrefix(r.Reason, "paused") {
		return "paused"
	}
	return string(r.State)
}

func tableRow(r ledger.Record, now time.Time) row {
	k := kind(r)
	out := row{At: r.Tick.UTC().Format(ledger.TickFormat), Tick: r.TickString(), State: k, Class: class(k), Instance: cmp.Or(r.Owner, noInstance), Exit: "—", Duration: "—", Attempt: "—", Fence: "—"}
	if r.State == ledger.Succeeded || r.State == ledger.Failed {
		out.Exit = strconv.Itoa(r.ExitCode)
	}
	if ran(r) && r.State != ledger.Lost {
		out.Duration = human(r.Duration(now))
	}
	if r.Attempt > 0 {
		out.Attempt = strconv.Itoa(r.Attempt)
	}
	if r.Fence > 0 {
		out.Fence = strconv.FormatInt(r.Fence, 10)
	}
	out.Note, out.Tail = note(r), r.Tail
	switch r.State {
	case ledger.Missed:
		out.Instance = noInstance
	case ledger.ControlRecord:
		out.Instance = cmp.Or(r.Actor, "an unknown caller")
	}
	return out
}

// note says in words what the columns do not: why a tick did not run,
// who gave a control.
func note(r ledger.Record) string {
	switch r.State {
	case ledger.Lost:
		n := "its instance stopped renewing the lease"
		if !r.LeaseUntil.IsZero() {
			n += " (it ran out at " + stamp(r.LeaseUntil) + ")"
		}
		return n + ": it died mid-run"
	case ledger.Running:
		return "still running"
	case ledger.Missed:
		n := "no instance ran it"
		if r.Reason != "" {
			n += " (" + r.Reason + ")"
		}
		if r.Owner != "" {
			n += "; found by " + r.Owner
		}
		return n
	case ledger.ControlRecord:
		n := cmp.Or(r.Action, "control") + " by " + cmp.Or(r.Actor, "an unknown caller")
		if r.Detail != "" {
			n += " (" + r.Detail + ")"
		}
		if r.Reason != "" {
			n += ": " + r.Reason
		}
		return n
	}
	var parts []string
	if strings.HasPrefix(r.Ref, "trigger#") {
		parts = append(parts, "a triggered run")
	}
	if r.Reason != "" {
		parts = append(parts, r.Reason)
	}
	return strings.Join(parts, "; ")
}

// describe is a mark's tooltip: the whole record in a sentence.
func describe(r ledger.Record, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", r.String(), kind(r))
	if r.Owner != "" && r.State != ledger.Missed && r.State != ledger.ControlRecord {
		fmt.Fprintf(&b, " on %s", r.Owner)
	}
	if r.State == ledger.Succeeded || r.State == ledger.Failed {
		fmt.Fprintf(&b, ", exit %d", r.ExitCode)
	}
	if ran(r) && r.State != ledger.Lost {
		fmt.Fprintf(&b, ", %s", human(r.Duration(now)))
	}
	if ran(r) {
		if late := r.Started.Sub(r.Tick); late >= time.Second && r.Ref == "" {
			fmt.Fprintf(&b, ", started %s late", human(late))
		}
	}
	if r.Attempt > 1 {
		fmt.Fprintf(&b, ", attempt %d", r.Attempt)
	}
	if r.Fence > 1 {
		fmt.Fprintf(&b, ", fence %d (taken over)", r.Fence)
	}
	if n := note(r); n != "" {
		fmt.Fprintf(&b, ": %s", n)
	}
	return b.String()
}

// placed returns recs drawable on a time axis: a deploy task's or a
// service's record has no tick (its key's time is ledger.Untimed, the end
// of time), so it is drawn from when it started; one that never started is
// left out.
func placed(recs []ledger.Record) []ledger.Record {
	out := make([]ledger.Record, 0, len(recs))
	for _, r := range recs {
		if r.Untimed() {
			if r.Started.IsZero() {
				continue
			}
			r.Tick = r.Started
		}
		out = append(out, r)
	}
	return out
}

// untimed reports a record of a deploy task or a service (placed has
// given it its start as tick).
func untimed(r ledger.Record) bool {
	return strings.HasPrefix(r.Job, ledger.OncePrefix) || strings.HasPrefix(r.Job, ledger.ServicePrefix)
}

// ran reports a record of a run an instance started: who ran consecutive
// ticks is where leadership was. A tick skipped, paused or missed was not
// run, whoever recorded it.
func ran(r ledger.Record) bool {
	switch r.State {
	case ledger.Running, ledger.Succeeded, ledger.Failed, ledger.Lost:
		return r.Owner != ""
	}
	return false
}

// end is where a record's bar ends: its finish, now while it runs, the end
// of its lease when it was lost (when its instance stopped answering).
func end(r ledger.Record, now time.Time) time.Time {
	switch {
	case shape(kind(r)) != "bar":
		return r.Tick // recorded when found or given, drawn at its tick
	case !r.Finished.IsZero():
		return r.Finished
	case r.State == ledger.Running:
		return now
	case r.State == ledger.Lost && !r.LeaseUntil.IsZero():
		return r.LeaseUntil
	case !r.Started.IsZero():
		return r.Started
	}
	return r.Tick
}

func shape(state string) string {
	switch state {
	case string(ledger.Succeeded), string(ledger.Failed), string(ledger.Lost), string(ledger.Running):
		return "bar"
	case string(ledger.Missed), string(ledger.Skipped), "paused":
		return state
	case string(ledger.ControlRecord):
		return "control"
	}
	return "other"
}

// class is the CSS class of a state: known states have their own, any
// other shares "other" (a state name is data, not a class name).
func class(state string) string {
	if slices.Contains(known, state) {
		return "s-" + state
	}
	return "s-other"
}

func orderedStates(counts map[string]int) []string {
	var out, rest []string
	for _, s := range known {
		if counts[s] > 0 {
			out = append(out, s)
		}
	}
	for s := range counts {
		if !slices.Contains(known, s) {
			rest = append(rest, s)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// axisMarks labels the axis at a round step, at most about eight times.
func axisMarks(t0, t1 time.Time, x func(time.Time) float64) []axisMark {
	steps := []time.Duration{
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour,
	}
	span := t1.Sub(t0)
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	layout := "15:04"
	if span > 20*time.Hour || t0.UTC().YearDay() != t1.UTC().YearDay() {
		layout = "Jan 2 15:04"
	}
	var out []axisMark
	for t := t0.UTC().Truncate(step); !t.After(t1); t = t.Add(step) {
		if t.Before(t0) {
			continue
		}
		out = append(out, axisMark{X: x(t), Label: t.Format(layout)})
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// human rounds a duration for a reader: 1.5s, 3m2s, 2h0m0s.
func human(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
