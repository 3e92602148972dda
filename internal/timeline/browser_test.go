package timeline

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/headless"
	"github.com/leadergate/leadergate/ledger"
)

// seen is what the page shows once Chromium has laid it out: its visible
// text (innerText leaves out tooltips and closed <details>), every mark
// with where it is drawn and in which colour, the lane labels, the
// leadership moves.
type seen struct {
	Text    string `json:"text"`
	Scripts int    `json:"scripts"`
	Width   int    `json:"width"`
	Marks   []struct {
		Job, State, Instance, Tick, Title string
		Fill                              string
		X, Y, W, H                        float64
	} `json:"marks"`
	Lanes []struct {
		Job, Label string
		Y, H       float64
	} `json:"lanes"`
	Moves []struct{ Job, From, To string } `json:"moves"`
	Strip []string                         `json:"strip"`
}

const look = `(() => {
  const box = el => { const r = el.getBoundingClientRect(); return {X: r.x, Y: r.y + scrollY, W: r.width, H: r.height}; };
  const job = el => { const s = el.closest('section.job'); return s ? s.dataset.job : ''; };
  return {
    text: document.body.innerText,
    scripts: document.scripts.length,
    width: document.documentElement.clientWidth,
    marks: [...document.querySelectorAll('g.mark')].map(g => Object.assign(box(g), {
      Job: job(g), State: g.dataset.state, Instance: g.dataset.instance, Tick: g.dataset.tick,
      Title: g.querySelector('title').textContent,
      Fill: getComputedStyle(g.querySelector('rect,polygon,circle')).fill })),
    lanes: [...document.querySelectorAll('section.job rect.lane-bg')].map(r => {
      const b = box(r); const label = r.nextElementSibling;
      return {Job: job(r), Label: label.querySelector('title').textContent, Y: b.Y, H: b.H}; }),
    moves: [...document.querySelectorAll('g.move')].map(g => ({Job: job(g), From: g.dataset.from, To: g.dataset.to})),
    strip: [...document.querySelectorAll('section.fleet g.seg')].map(g => g.dataset.instance),
  };
})()`

// TestTheBrowserShowsEveryOutcome renders a ledger with every kind of
// tick, opens the file in a real headless Chromium and checks what a
// person would see: each job's section, its counts, each tick drawn in the
// lane of the instance that ran it, in its state's colour, the failed and
// lost runs named with their instance, where leadership moved; that the
// page asked for nothing but itself and has no script; and that the
// screenshot has each state's colour where its mark is.
func TestTheBrowserShowsEveryOutcome(t *testing.T) {
	recs, now := everyOutcome()
	ctx, b, url := openRendered(t, recs, Options{Group: "e-abc123", Now: now, Since: 24 * time.Hour})
	// The screenshot first: it sets the page's width, and the boxes below
	// are measured in that layout.
	shot, err := b.Screenshot(ctx, 1200)
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("LEADERGATE_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "timeline.png"), shot, 0o644)
	}
	var s seen
	if err := b.Eval(ctx, look, &s); err != nil {
		t.Fatal(err)
	}

	// Self-contained: the only request is the file itself; no script.
	if !slices.Equal(b.Requests, []string{url}) {
		t.Errorf("the page made requests %q, want only itself", b.Requests)
	}
	if s.Scripts != 0 {
		t.Errorf("the page has %d scripts; it must read without JavaScript", s.Scripts)
	}

	// The words on the screen.
	for _, want := range []string{
		"leadergate: the ticks of e-abc123",
		"billing", "cleanup",
		"6 succeeded", "1 failed", "1 lost", "1 running", "1 missed", "1 skipped", "1 paused", "1 control", "1 deferred",
		"Leadership moved 2 times",
		"i-0aaa → i-0bbb", "i-0bbb → i-0ccc",
		"failed 2026-03-04T10:10:00Z on i-0aaa, exit 2, 12s\nits last output",
		"lost 2026-03-04T10:25:00Z on i-0bbb: its instance stopped renewing the lease",
		"missed 2026-03-04T10:30:00Z (no instance): no instance ran it (no scheduler ran); found by i-0ccc",
		"paused 2026-03-04T10:30:00Z on i-0bbb: paused by arn:aws:sts::123456789012:assumed-role/ops/bob: database migration",
		"skipped 2026-03-04T10:20:00Z (no instance): skipped by arn:aws:iam::123456789012:user/alice: bulk import running",
		"pause by arn:aws:sts::123456789012:assumed-role/ops/bob (until 2026-03-04T10:33:00Z): database migration",
		"all jobs (controls for the whole group)",
		"resume by arn:aws:iam::123456789012:user/alice: maintenance over",
		"All 10 records of billing", "All 7 records of cleanup", "All 1 record of all jobs",
		"2026-03-04T10:28:00Z pause by",
	} {
		if !strings.Contains(s.Text, want) {
			t.Errorf("the page does not show %q; it shows:\n%s", want, s.Text)
		}
	}

	// A failed run's output is one click away, not on the page.
	if strings.Contains(s.Text, "the bank said no") {
		t.Errorf("the failed run's output is shown unfolded")
	}

	// Every record is a visible mark, in its job's section, in the lane of
	// its instance (or the "no instance" lane), inside the page.
	if len(s.Marks) != len(recs) {
		t.Errorf("%d marks for %d records", len(s.Marks), len(recs))
	}
	for _, r := range recs {
		i := slices.IndexFunc(s.Marks, func(m struct {
			Job, State, Instance, Tick, Title string
			Fill                              string
			X, Y, W, H                        float64
		}) bool {
			return m.Job == r.Job && m.Tick == r.TickString()
		})
		if i < 0 {
			t.Errorf("no mark for %s", r)
			continue
		}
		m := s.Marks[i]
		state := string(r.State)
		if strings.HasPrefix(r.Reason, "paused") {
			state = "paused"
		}
		if m.State != state || m.W <= 0 || m.H <= 0 || m.X < 0 || m.X+m.W > float64(s.Width) {
			t.Errorf("%s: mark %+v is not a visible %s mark in the page (%d px wide)", r, m, r.State, s.Width)
		}
		// The lane of the instance that ran or skipped it; a missed tick
		// is nobody's (whoever found it), a control the operators'.
		lane := r.Owner
		switch {
		case r.State == ledger.ControlRecord:
			lane = "operators"
		case lane == "" || r.State == ledger.Missed:
			lane = "no instance"
		}
		in := false
		for _, l := range s.Lanes {
			if l.Job == r.Job && l.Label == lane {
				in = m.Y >= l.Y && m.Y+m.H <= l.Y+l.H
			}
		}
		if !in {
			t.Errorf("%s: mark at y=%.0f..%.0f is not inside the lane of %s", r, m.Y, m.Y+m.H, lane)
		}
	}

	// Colours a person tells apart, and the tooltips that name the run.
	colour := map[string]string{
		"succeeded": "rgb(46, 125, 50)", "failed": "rgb(198, 40, 40)", "running": "rgb(21, 101, 192)",
		"missed": "rgb(255, 255, 255)", "skipped": "rgb(154, 164, 174)", "paused": "rgb(224, 134, 0)",
		"deferred": "rgb(96, 125, 139)", "control": "rgb(0, 121, 107)",
	}
	for _, m := range s.Marks {
		if want, ok := colour[m.State]; ok && m.Fill != want {
			t.Errorf("%s@%s (%s) is filled %s, want %s", m.Job, m.Tick, m.State, m.Fill, want)
		}
		if m.State == "lost" && !strings.Contains(m.Fill, "url(") {
			t.Errorf("the lost run is filled %s, want the hatch pattern", m.Fill)
		}
		if m.State == "failed" && m.Title != "billing@2026-03-04T10:10:00Z: failed on i-0aaa, exit 2, 12s" {
			t.Errorf("the failed run's tooltip is %q", m.Title)
		}
	}

	// Where leadership moved: in each job, and in the fleet's strip.
	var moves []string
	for _, m := range s.Moves {
		moves = append(moves, m.Job+": "+m.From+" → "+m.To)
	}
	wantMoves := []string{"billing: i-0aaa → i-0bbb", "billing: i-0bbb → i-0ccc", "cleanup: i-0aaa → i-0ccc"}
	if !slices.Equal(moves, wantMoves) {
		t.Errorf("leadership moves drawn: %q, want %q", moves, wantMoves)
	}
	if want := []string{"i-0aaa", "i-0bbb", "i-0ccc"}; !slices.Equal(s.Strip, want) {
		t.Errorf("the fleet strip shows %q, want %q", s.Strip, want)
	}

	// The screenshot: not blank, and each mark has its colour on screen
	// where the browser says it is.
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if n := colours(img, img.Bounds()); n < 10 {
		t.Errorf("the screenshot has %d colours: blank", n)
	}
	pixel := map[string]color.RGBA{
		"succeeded": {46, 125, 50, 255}, "failed": {198, 40, 40, 255}, "lost": {106, 27, 154, 255},
		"running": {21, 101, 192, 255}, "missed": {198, 40, 40, 255}, "skipped": {154, 164, 174, 255},
		"paused": {224, 134, 0, 255}, "deferred": {96, 125, 139, 255}, "control": {0, 121, 107, 255},
	}
	for _, m := range s.Marks {
		box := image.Rect(int(m.X), int(m.Y), int(m.X+m.W+1), int(m.Y+m.H+1))
		if !has(img, box, pixel[m.State]) {
			t.Errorf("%s@%s (%s): no %v pixel in %v of the screenshot", m.Job, m.Tick, m.State, pixel[m.State], box)
		}
	}
}

func colours(img image.Image, r image.Rectangle) int {
	seen := map[color.RGBA]bool{}
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			seen[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)] = true
		}
	}
	return len(seen)
}

func has(img image.Image, r image.Rectangle, c color.RGBA) bool {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				return true
			}
		}
	}
	return false
}

// TestTheBrowserShowsHostileValuesAsText: values that look like markup
// (hostileOutcome) are shown by Chromium as the text they are, in the
// page's title, headings, lists, tooltips, data attributes and a failed
// run's output; the page has no script, and its structure is intact (one
// job section, every record a mark).
func TestTheBrowserShowsHostileValuesAsText(t *testing.T) {
	recs, now := hostileOutcome()
	ctx, b, _ := openRendered(t, recs, Options{Group: hostile, Now: now, Since: time.Hour})
	var s struct {
		Title, Text, Tail string
		Scripts           int
		Jobs, Headings    []string
		States, Instances []string
		Tooltips          []string
		Moves             []string
	}
	const look = `(() => {
  const all = (sel, f) => [...document.querySelectorAll(sel)].map(f);
  return {
    Title: document.title, Text: document.body.innerText, Scripts: document.scripts.length,
    Tail: document.querySelector('details.tail pre').textContent,
    Jobs: all('section.job', e => e.dataset.job),
    Headings: all('section.job h2', e => e.textContent),
    States: all('g.mark', e => e.dataset.state),
    Instances: all('g.mark', e => e.dataset.instance),
    Tooltips: all('g.mark title', e => e.textContent),
    Moves: all('g.move', e => e.dataset.from + ' > ' + e.dataset.to),
  };
})()`
	if err := b.Eval(ctx, look, &s); err != nil {
		t.Fatal(err)
	}
	if s.Scripts != 0 {
		t.Errorf("the page has %d scripts", s.Scripts)
	}
	if s.Title != "leadergate: the ticks of "+hostile {
		t.Errorf("the title is %q", s.Title)
	}
	if !slices.Equal(s.Jobs, []string{hostile}) || !slices.Equal(s.Headings, []string{hostile}) {
		t.Errorf("job sections %q headed %q, want one, %q", s.Jobs, s.Headings, hostile)
	}
	if want := []string{"failed", "succeeded", "missed", "control", hostile}; !slices.Equal(s.States, want) {
		t.Errorf("marks of states %q, want %q", s.States, want)
	}
	if want := []string{hostile, "i-0bbb", "i-0bbb", "", "i-0bbb"}; !slices.Equal(s.Instances, want) {
		t.Errorf("marks of instances %q, want %q", s.Instances, want)
	}
	if len(s.Tooltips) == 0 || !strings.HasPrefix(s.Tooltips[0], hostile+"@2026-03-04T10:00:00Z: failed on "+hostile+", exit 1, 3s") {
		t.Errorf("the failed run's tooltip: %q", s.Tooltips)
	}
	if want := []string{hostile + " > i-0bbb"}; !slices.Equal(s.Moves, want) {
		t.Errorf("moves %q, want %q", s.Moves, want)
	}
	if s.Tail != hostile+"\n" {
		t.Errorf("the failed run's output shows as %q", s.Tail)
	}
	for _, want := range []string{
		"failed 2026-03-04T10:00:00Z on " + hostile + ", exit 1, 3s: " + hostile,
		"no instance ran it (" + hostile + "); found by i-0bbb",
		"pause by " + hostile + " (" + hostile + "): " + hostile,
	} {
		if !strings.Contains(s.Text, want) {
			t.Errorf("the page does not show %q; it shows:\n%s", want, s.Text)
		}
	}
}

// openRendered renders recs into a file, as history --html writes it, and
// opens it in a headless Chromium: the context its calls run under (a
// wedged browser fails the test, never hangs it), the browser and the
// page's URL.
func openRendered(t *testing.T, recs []ledger.Record, o Options) (context.Context, *headless.Browser, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	b := headless.ForTest(t, ctx)
	var html bytes.Buffer
	if err := Render(&html, recs, o); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "history.html")
	if err := os.WriteFile(file, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + file
	if err := b.Open(ctx, url); err != nil {
		t.Fatal(err)
	}
	return ctx, b, url
}
