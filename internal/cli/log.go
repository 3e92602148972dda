package cli

// The CLI voice is package voice; this file keeps the CLI's loggers: the
// one place loggers are made (newLogger), for one-shot commands (warnings in
// the voice) and for the scheduler daemon (slog text or json).

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/leadergate/leadergate/internal/voice"
	"github.com/leadergate/leadergate/schedule"
)

// Kinds of CLI lines (package voice).
const (
	levelError   = voice.Error
	levelWarning = voice.Warning
	levelInfo    = voice.Info // a -v line
)

// say writes msg on w in the CLI voice.
func say(w io.Writer, kind, msg string) { voice.Say(w, kind, msg) }

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
