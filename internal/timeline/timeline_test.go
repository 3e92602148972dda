package timeline

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leadergate/leadergate/ledger"
)

func render(t *testing.T, recs []ledger.Record, now time.Time) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, recs, Options{Group: "e-abc123", Now: now, Since: 7 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestThePageNeedsNothingElse: no script, and no URL at all, so that
// nothing is fetched when it opens (the browser test checks the requests
// too); only the in-page pattern is referenced.
func TestThePageNeedsNothingElse(t *testing.T) {
	recs, now := everyOutcome()
	page := render(t, recs, now)
	for _, bad := range []string{"<script", "http:", "https:", "//", "@import", "<link", "<img", "src="} {
		if i := strings.Index(page, bad); i >= 0 && !(bad == "//" && strings.Contains(page[max(0, i-10):i+2], "<!DOCTYPE")) {
			t.Errorf("the page contains %q: %s", bad, page[max(0, i-60):min(len(page), i+60)])
		}
	}
	for _, u := range regexp.MustCompile(`url\([^)]*\)`).FindAllString(page, -1) {
		if u != "url(#hatch)" {
			t.Errorf("the page references %s", u)
		}
	}
}

// TestNamesAreText: a job named like markup is shown as its name, never
// run as markup (the names come from crontabs).
func TestNamesAreText(t *testing.T) {
	recs := []ledger.Record{{Key: ledger.Key{Group: "g", Job: `<script>alert(1)</script>`, Tick: t0}, Owner: `i-"x"`, State: ledger.Failed, Started: t0, Finished: t0.Add(time.Second), ExitCode: 1}}
	page := render(t, recs, t0.Add(time.Minute))
	if strings.Contains(page, "<script>") || strings.Contains(page, `data-instance="i-"x""`) {
		t.Errorf("a name went into the page as markup:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the job's name is not shown")
	}
}

// TestAnUnknownStateIsDrawnAndCounted: states other helpers add (or a
// newer leadergate writes) are never dropped: a grey mark, a count, a row,
// the state's own name.
func TestAnUnknownStateIsDrawnAndCounted(t *testing.T) {
	recs := []ledger.Record{
		{Key: ledger.Key{Group: "g", Job: "j", Tick: t0}, Owner: "i-1", State: "quarantined"},
		{Key: ledger.Key{Group: "g", Job: "j", Tick: t0.Add(time.Minute)}, Owner: "i-1", State: ledger.Succeeded, Started: t0.Add(time.Minute), Finished: t0.Add(time.Minute + time.Second)},
	}
	page := render(t, recs, t0.Add(2*time.Minute))
	for _, want := range []string{
		`<g class="mark" data-state="quarantined"`,
		`<span class="badge s-other" data-count="quarantined">1 quarantined</span>`,
		`<tr data-state="quarantined"><td>2026-03-04T10:00:00Z</td><td>quarantined</td><td>i-1</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// TestAnEmptyLedgerSaysSo: no ticks is a page that says there are none,
// not an empty chart.
func TestAnEmptyLedgerSaysSo(t *testing.T) {
	page := render(t, nil, t0)
	if !strings.Contains(page, `<p class="empty">no ticks in the last 168h0m0s.</p>`) || strings.Contains(page, `class="job"`) {
		t.Errorf("an empty ledger renders as:\n%s", page)
	}
}

// TestTheAxisIsLabelledAtRoundTimes: about eight labels at a round step,
// with the date once the range spans days.
func TestTheAxisIsLabelledAtRoundTimes(t *testing.T) {
	x := func(time.Time) float64 { return 0 }
	for _, c := range []struct {
		span  time.Duration
		first string
		n     int
	}{
		{40 * time.Minute, "10:00", 9},                 // every 5 minutes
		{6 * time.Hour, "10:00", 7},                    // every hour
		{3 * 24 * time.Hour, "Mar 4 12:00", 6},         // every 12 hours, dated
		{30 * 24 * time.Hour, "Mar 9 00:00", 4},        // every week, from Monday
		{90 * time.Second, "10:00", 2},                 // a minute
		{7*24*time.Hour + time.Hour, "Mar 5 00:00", 7}, // a day
	} {
		marks := axisMarks(t0, t0.Add(c.span), x)
		if len(marks) != c.n || marks[0].Label != c.first {
			t.Errorf("%s: labels %v, want %d starting %s", c.span, marks, c.n, c.first)
		}
	}
}

// TestLongListsAreCut: a flapping fleet or a job failing all day lists the
// newest 20 failures and the last 20 moves, and says how many more there
// are; the folded table keeps every record.
func TestLongListsAreCut(t *testing.T) {
	var recs []ledger.Record
	for i := range 30 {
		tick := t0.Add(time.Duration(i) * time.Minute)
		recs = append(recs, ledger.Record{Key: ledger.Key{Group: "g", Job: "flaky", Tick: tick}, Owner: []string{"i-a", "i-b"}[i%2],
			State: ledger.Failed, ExitCode: 1, Started: tick, Finished: tick.Add(time.Second)})
	}
	page := render(t, recs, t0.Add(time.Hour))
	for _, want := range []string{
		"Leadership moved 29 times; the last 20:",
		`<li class="more">and 10 more, in the table below</li>`,
		"2026-03-04T10:29:00Z", // the newest failure is listed
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if n := strings.Count(page, `<li data-state="failed">`); n != 20 {
		t.Errorf("%d failures listed, want 20", n)
	}
	if n := strings.Count(page, `<tr data-state="failed">`); n != 30 {
		t.Errorf("%d rows in the table, want all 30", n)
	}
}

// TestDeployTasksAndServicesAreDrawnFromTheirStart: `leadergate once` and
// `leadergate service` records have no tick (their key's time is the end
// of time); they are drawn from when they started, under their own names,
// and do not count as moves of leadership. One that never started is left
// out, and the axis stays on the ticks' hours, not the year 9999.
func TestDeployTasksAndServicesAreDrawnFromTheirStart(t *testing.T) {
	recs := []ledger.Record{
		{Key: ledger.Key{Group: "g", Job: "billing", Tick: t0}, Owner: "i-a", State: ledger.Succeeded, Started: t0, Finished: t0.Add(time.Second)},
		{Key: ledger.OnceKey("g", "migrate-v42"), Owner: "i-b", State: ledger.Succeeded, Started: t0.Add(2 * time.Minute), Finished: t0.Add(3 * time.Minute)},
		{Key: ledger.ServiceKey("g", "queue-worker"), Owner: "i-c", State: ledger.Running, Started: t0.Add(time.Minute), LeaseUntil: t0.Add(time.Hour)},
		{Key: ledger.OnceKey("g", "never"), Owner: "i-d", State: ledger.Running},
		{Key: ledger.Key{Group: "g", Job: "billing", Tick: t0.Add(5 * time.Minute)}, Owner: "i-a", State: ledger.Succeeded, Started: t0.Add(5 * time.Minute), Finished: t0.Add(5*time.Minute + time.Second)},
	}
	page := render(t, recs, t0.Add(6*time.Minute))
	for _, want := range []string{
		"<h2>migrate-v42 (leadergate once: a deploy task)</h2>",
		"<h2>queue-worker (leadergate service)</h2>",
		`data-state="succeeded" data-instance="i-b" data-tick="2026-03-04T10:02:00Z"`,
		`data-state="running" data-instance="i-c" data-tick="2026-03-04T10:01:00Z"`,
		"2026-03-04 10:00:00Z to 2026-03-04 10:05:00Z (UTC), 4 ticks",
		"One instance ran every tick.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "9999") || strings.Contains(page, "never") {
		t.Errorf("the end of time, or a task that never started, is on the page")
	}
}

// TestHostileValuesAreEscaped: values that look like markup (job and
// instance names, notes, a failed run's output, a state) come out escaped,
// in element text and in attributes, and the markup around them stays
// whole: outside the style sheet, every < and > delimits a tag whose
// attributes are all double-quoted without a quote, < or > inside. The
// browser test checks that Chromium shows them as the literal text.
func TestHostileValuesAreEscaped(t *testing.T) {
	recs, now := hostileOutcome()
	var b bytes.Buffer
	if err := Render(&b, recs, Options{Group: hostile, Now: now, Since: time.Hour}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	const esc = "&lt;script&gt;alert(1)&lt;/script&gt; &#34;x&#34; &#39;y&#39; &amp; z"
	for _, want := range []string{
		"<title>leadergate: the ticks of " + esc + "</title>",
		`<section class="job" id="job-0" data-job="` + esc + `">`,
		"<h2>" + esc + "</h2>",
		`aria-label="ticks of ` + esc + ` by instance"`,
		`<g class="seg" data-instance="` + esc + `"><title>` + esc + " ran 1 tick",
		`<g class="mark" data-state="failed" data-instance="` + esc + `" data-tick="`,
		`<g class="mark" data-state="` + esc + `" data-instance="i-0bbb"`,
		`<g class="move" data-from="` + esc + `" data-to="i-0bbb">`,
		`<title>` + esc + `</title>&lt;script&gt;alert(1)&lt;/scrip…</text>`, // a lane, its label cut
		`on <span class="mono">` + esc + `</span>, exit 1, 3s: ` + esc + `<details class="tail">`,
		"<pre>" + esc + "\n</pre>",
		"no instance ran it (" + esc + "); found by i-0bbb",
		"pause by " + esc + " (" + esc + "): " + esc + "</li>",
		`<td>` + esc + `</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, `"x"`) || strings.Contains(page, `'y'`) || strings.Contains(page, "& z") {
		t.Errorf("a value went into the page unescaped:\n%s", page)
	}

	head, body, ok := strings.Cut(page, "</style>")
	if !ok || !strings.Contains(head, "<style>") {
		t.Fatal("the page has no style sheet")
	}
	_, head, _ = strings.Cut(head, "<style>")
	markup := strings.Replace(page, head, "", 1)
	tag := regexp.MustCompile(`^<(!DOCTYPE html|/?[a-z][a-z0-9]*(\s+[a-zA-Z][a-zA-Z0-9-]*(="[^"<>]*")?)*\s*/?)>$`)
	n := 0
	for rest := markup; rest != ""; n++ {
		i := strings.IndexAny(rest, "<>")
		if i < 0 {
			break
		}
		if rest[i] == '>' {
			t.Fatalf("a > outside a tag: %s", rest[max(0, i-80):i+1])
		}
		j := strings.IndexAny(rest[i+1:], "<>")
		if j < 0 || rest[i+1+j] != '>' || !tag.MatchString(rest[i:i+2+j]) {
			t.Fatalf("a broken tag: %s", rest[i:min(len(rest), i+120)])
		}
		rest = rest[i+2+j:]
	}
	if n < 100 || !strings.HasSuffix(body, "</html>\n") {
		t.Errorf("%d tags, and the page ends %q", n, body[max(0, len(body)-20):])
	}
}
