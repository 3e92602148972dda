package timeline

import (
	"bufio"
	_ "embed"
	"fmt"
	"html"
	"io"
	"strconv"

	"github.com/leadergate/leadergate/ledger"
)

// The page is written by plain Go code, not html/template: the binary that
// draws it is also the one every cron line executes, and html/template,
// text/template and their reflection-driven execution made it about
// 0.6 MiB larger (over the 16 MiB release limit) for one page whose values
// all sit in the same two places: element text and double-quoted
// attributes. Every value goes through [page.put], which escapes it; there
// is no script, no URL and no value in CSS, where escaping would differ.

//go:embed page.css
var style string

// page writes the markup.
type page struct{ w *bufio.Writer }

// put writes markup, a constant of this file with a %s for each value:
// a string is escaped with html.EscapeString (< > & ' "), which is right
// in element text and in a double-quoted attribute; a float64 is a
// coordinate, written with one decimal (enough for a screen, and a page of
// a thousand marks stays small); an int is written in decimal. Nothing
// else writes values, so none can go in unescaped.
func (p page) put(markup string, values ...any) {
	out := make([]any, len(values))
	for i, v := range values {
		switch v := v.(type) {
		case string:
			out[i] = html.EscapeString(v)
		case float64:
			out[i] = strconv.FormatFloat(v, 'f', 1, 64)
		case int:
			out[i] = strconv.Itoa(v)
		default:
			panic(fmt.Sprintf("timeline: a value of type %T on the page", v))
		}
	}
	fmt.Fprintf(p.w, markup, out...)
}

// Render writes the page for recs (any order, any mix of jobs).
func Render(w io.Writer, recs []ledger.Record, o Options) error {
	v := build(recs, o)
	p := page{bufio.NewWriter(w)}
	p.put("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"+
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s</title>\n<style>\n", v.Title)
	p.w.WriteString(style) // this package's own style sheet, as it is
	p.put("</style>\n</head>\n<body>\n" +
		`<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false">` + "\n" +
		`<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#e6d6ee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#6a1b9a" stroke-width="3"/></pattern></defs>` + "\n" +
		"</svg>\n")
	p.put("<header>\n<h1>%s</h1>\n<p class=\"range\">%s · made %s</p>\n<ul class=\"legend\">", v.Title, v.Range, v.Generated)
	for _, l := range v.Legend {
		p.put(`
<li data-legend="%s">`, l.State)
		p.swatch(l)
		p.put(" %s</li>", l.State)
	}
	p.put(`
<li><svg width="28" height="16" aria-hidden="true"><line class="handover" x1="4" y1="2" x2="4" y2="14"/><circle class="handover-end" cx="4" cy="14" r="2.5"/></svg> leadership moved</li>
</ul>
</header>`)
	if v.Empty {
		p.put(`
<p class="empty">%s.</p>`, v.Range)
	} else {
		p.fleet(v)
		for _, j := range v.Jobs {
			p.job(v, j)
		}
	}
	p.put("\n</body>\n</html>\n")
	return p.w.Flush()
}

// swatch is a state's shape in the legend.
func (p page) swatch(l legend) {
	p.put(`<svg width="16" height="16" aria-hidden="true">`)
	switch l.Shape {
	case "bar":
		p.put(`<rect class="%s" x="1" y="3" width="14" height="10" rx="2"/>`, l.Class)
	case "missed":
		p.put(`<polygon class="%s" points="8,2 14,8 8,14 2,8"/>`, l.Class)
	case "skipped":
		p.put(`<circle class="%s" cx="8" cy="8" r="6"/><line class="s-skipped-slash" x1="4" y1="12" x2="12" y2="4"/>`, l.Class)
	case "paused":
		p.put(`<rect class="%s" x="2" y="2" width="4.5" height="12"/><rect class="%s" x="9.5" y="2" width="4.5" height="12"/>`, l.Class, l.Class)
	case "control":
		p.put(`<polygon class="%s" points="4,2 14,5 4,8"/><line class="control-pole" x1="4" y1="2" x2="4" y2="15"/>`, l.Class)
	default:
		p.put(`<rect class="%s" x="2" y="2" width="12" height="12"/>`, l.Class)
	}
	p.put(`</svg>`)
}

// fleet is the strip of who ran the fleet's ticks, and the moves of
// leadership under it.
func (p page) fleet(v view) {
	f := v.Fleet
	p.put(`
<section class="fleet">
<h2>Who ran the ticks</h2>
<svg class="chart" viewBox="0 0 %s %s" role="img" aria-label="which instance ran the fleet's ticks over time">`, v.Width, f.Height)
	for _, s := range f.Segments {
		p.put(`
<g class="seg" data-instance="%s"><title>%s</title><rect class="%s" x="%s" y="2" width="%s" height="%s" rx="2"/>`,
			s.Instance, s.Title, s.Class, s.X, s.W, f.AxisY)
		if s.Label != "" {
			p.put(`<text class="seg-label" x="%s" dx="6" y="19">%s</text>`, s.X, s.Label)
		}
		p.put(`</g>`)
	}
	for _, a := range f.Axis {
		p.put(`
<text class="axis" x="%s" y="%s" dy="16" text-anchor="middle">%s</text>`, a.X, f.AxisY, a.Label)
	}
	p.put("\n</svg>")
	if len(f.Moves) == 0 {
		p.put("\n<p>One instance ran every tick.</p>\n</section>")
		return
	}
	p.put("\n<p>Leadership moved %s %s", f.AllMoves, plural(f.AllMoves, "time", "times"))
	if f.AllMoves > len(f.Moves) {
		p.put("; the last %s", len(f.Moves))
	}
	p.put(":</p>\n<ul class=\"moves\">")
	for _, m := range f.Moves {
		p.put("\n<li><time>%s</time> %s</li>", m.Tick, m.Note)
	}
	p.put("\n</ul>\n</section>")
}

// job is a job's section: its counts, its chart, what needs attention,
// its controls, and the folded table of all its records.
func (p page) job(v view, j jobView) {
	p.put(`
<section class="job" id="%s" data-job="%s">
<h2>%s</h2>
<p class="counts">`, j.ID, j.Job, j.Name)
	for _, c := range j.Counts {
		p.put(`<span class="badge %s" data-count="%s">%s %s</span> `, c.Class, c.State, c.N, c.State)
	}
	if j.Moves > 0 {
		p.put(`<span class="badge moves" data-count="moves">leadership moved %s×</span>`, j.Moves)
	}
	p.put(`</p>
<svg class="chart" viewBox="0 0 %s %s" role="img" aria-label="ticks of %s by instance">`, v.Width, j.Height, j.Name)
	for i, l := range j.Lanes {
		class := "lane-bg"
		if i%2 == 1 {
			class += " odd"
		}
		p.put(`
<rect class="%s" x="0" y="%s" width="%s" height="24"/>
<text class="lane" x="%s" y="%s" text-anchor="end"><title>%s</title>%s</text>`, class, l.Y, v.Width, v.PlotLeft-12, l.TextY, l.Full, l.Label)
	}
	for _, a := range j.Axis {
		p.put(`
<line class="grid" x1="%s" y1="0" x2="%s" y2="%s"/>
<text class="axis" x="%s" y="%s" dy="14" text-anchor="middle">%s</text>`, a.X, a.X, j.AxisY, a.X, j.AxisY, a.Label)
	}
	for _, m := range j.Marks {
		p.mark(m)
	}
	for _, h := range j.Handovers {
		p.put(`
<g class="move" data-from="%s" data-to="%s"><title>%s</title><line class="handover" x1="%s" y1="%s" x2="%s" y2="%s"/><circle class="handover-end" cx="%s" cy="%s" r="2.5"/></g>`,
			h.From, h.To, h.Title, h.X, h.Y1, h.X, h.Y2, h.X, h.Y2)
	}
	p.put("\n</svg>")
	if len(j.Attention) > 0 {
		p.put("\n<h3>Not succeeded</h3>\n<ul class=\"attention\">")
		for _, r := range j.Attention {
			p.attention(r)
		}
		if j.MoreAttention > 0 {
			p.put("\n<li class=\"more\">and %s more, in the table below</li>", j.MoreAttention)
		}
		p.put("\n</ul>")
	}
	if len(j.Controls) > 0 {
		p.put("\n<h3>Controls</h3>\n<ul class=\"controls\">")
		for _, r := range j.Controls {
			p.put("\n<li data-state=\"control\"><time>%s</time> %s</li>", r.At, r.Note)
		}
		p.put("\n</ul>")
	}
	p.put(`
<details><summary>All %s %s of %s</summary>
<table>
<thead><tr><th>TICK</th><th>STATE</th><th>INSTANCE</th><th>EXIT</th><th>DURATION</th><th>ATTEMPT</th><th>FENCE</th><th>WHY</th></tr></thead>
<tbody>`, len(j.Rows), plural(len(j.Rows), "record", "records"), j.Name)
	for _, r := range j.Rows {
		p.put(`
<tr data-state="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>`,
			r.State, r.Tick, r.State, r.Instance, r.Exit, r.Duration, r.Attempt, r.Fence, r.Note)
	}
	p.put("\n</tbody>\n</table>\n</details>\n</section>")
}

// mark is one record in a job's chart, in its state's shape, with the
// whole record as its tooltip.
func (p page) mark(m mark) {
	p.put(`
<g class="mark" data-state="%s" data-instance="%s" data-tick="%s"><title>%s</title>`, m.State, m.Instance, m.Tick, m.Title)
	switch m.Shape {
	case "bar":
		p.put(`<rect class="%s" x="%s" y="%s" width="%s" height="%s" rx="2"/>`, m.Class, m.X, m.Y, m.W, m.H)
	case "missed":
		p.put(`<polygon class="%s" points="%s"/>`, m.Class, m.Points)
	case "skipped":
		p.put(`<circle class="%s" cx="%s" cy="%s" r="6.5"/><line class="s-skipped-slash" x1="%s" y1="%s" x2="%s" y2="%s"/>`,
			m.Class, m.CX, m.CY, m.CX-4, m.CY+4, m.CX+4, m.CY-4)
	case "paused":
		p.put(`<rect class="%s" x="%s" y="%s" width="5" height="%s"/><rect class="%s" x="%s" y="%s" width="5" height="%s"/>`,
			m.Class, m.X, m.Y, m.H, m.Class, m.X+8, m.Y, m.H)
	case "control":
		p.put(`<polygon class="%s" points="%s"/><line class="control-pole" x1="%s" y1="%s" x2="%s" y2="%s"/>`,
			m.Class, m.Points, m.CX, m.Y, m.CX, m.Y+m.H)
	default:
		p.put(`<rect class="%s" x="%s" y="%s" width="%s" height="%s"/>`, m.Class, m.X, m.Y, m.W, m.H)
	}
	p.put(`</g>`)
}

// attention is a line of the list of runs that did not succeed: what,
// where, how it ended, why, and a failed run's last output, folded.
func (p page) attention(r row) {
	p.put(`
<li data-state="%s"><span class="badge %s">%s</span> <time>%s</time> `, r.State, r.Class, r.State, r.Tick)
	if r.Instance == noInstance {
		p.put("(no instance)")
	} else {
		p.put(`on <span class="mono">%s</span>`, r.Instance)
	}
	if r.Exit != "—" {
		p.put(", exit %s", r.Exit)
	}
	if r.Duration != "—" {
		p.put(", %s", r.Duration)
	}
	if r.Attempt != "—" && r.Attempt != "1" {
		p.put(", attempt %s", r.Attempt)
	}
	if r.Note != "" {
		p.put(": %s", r.Note)
	}
	if r.Tail != "" {
		p.put(`<details class="tail"><summary>its last output</summary><pre>%s</pre></details>`, r.Tail)
	}
	p.put("</li>")
}
