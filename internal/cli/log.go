package cli

// The CLI voice. One-shot commands (check, run, elect, status, schedule
// --check) speak on stderr, lower case, one prefix on every line:
//
//	leadergate: error: PROBLEM; FIX
//	leadergate: warning: …
//	leadergate: …            (-v: why, step by step)
//
// An error is one line that names the problem and, where one is known, the
// fix after "; " (elect.Error's Fix): cron mails and journald show the
// first line, so the fix is never on a line of its own.
// never as bare slog lines. The scheduler is a daemon and logs with slog
// (text or json), which journald and log shippers read.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/leadergate/leadergate/schedule"
)

// Kinds of CLI lines, by the prefix after "leadergate: ".
const (
	levelError   = "error"
	levelWarning = "warning"
	levelInfo    = "" // a -v line
)

// say writes msg on w in the CLI voice, prefixing every one of its lines.
func say(w io.Writer, kind, msg string) {
	prefix := "leadergate: "
	if kind != "" {
		prefix += kind + ": "
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	io.WriteString(w, b.String()) // one write: lines of concurrent writers do not interleave
}

// newLogger is the one place loggers are made. format "" is the CLI voice of
// a one-shot command (warnings and errors; everything with verbose); "text"
// and "json" are the scheduler daemon's slog formats (info; debug with verbose).
func newLogger(w io.Writer, verbose bool, format string) *slog.Logger {
	level := slog.LevelInfo
	if format == "" {
		level = slog.LevelWarn
	}
	if verbose {
		level = slog.LevelDebug
	}
	if format == "json" || format == "text" {
		// The daemon's records: durations as seconds in JSON, rounded in text.
		return schedule.NewLogger(w, format, level)
	}
	return slog.New(&voiceHandler{w: w, level: level, mu: new(sync.Mutex)})
}

// voiceHandler renders slog records in the CLI voice: "leadergate: warning:
// MSG key=value ...", no time (cron and journald stamp lines anyway).
type voiceHandler struct {
	w      io.Writer
	level  slog.Level
	mu     *sync.Mutex
	attrs  string // pre-rendered " key=value" pairs from WithAttrs
	groups string // "a.b." from WithGroup
}

func (h *voiceHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *voiceHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.groups, a)
		return true
	})
	kind := levelInfo
	switch {
	case r.Level >= slog.LevelError:
		kind = levelError
	case r.Level >= slog.LevelWarn:
		kind = levelWarning
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	say(h.w, kind, b.String())
	return nil
}

func (h *voiceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range as {
		writeAttr(&b, h.groups, a)
	}
	c := *h
	c.attrs += b.String()
	return &c
}

func (h *voiceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups += name + "."
	return &c
}

// writeAttr appends " key=value", quoting values that would not read back.
func writeAttr(b *strings.Builder, groups string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			writeAttr(b, groups+a.Key+".", g)
		}
		return
	}
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " =\"\n\t") {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s%s=%s", groups, a.Key, v)
}
