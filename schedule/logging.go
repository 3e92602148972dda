package schedule

import (
	"io"
	"log/slog"
	"time"
)

// MsgJobOutput is the message of every record that carries a line a job
// printed: the line is in the "line" attribute, its stream ("stdout" or
// "stderr") in "stream", so a job printing "job finished" is never taken
// for the scheduler's own record of that name.
//
// Both streams are logged at INFO, on purpose: programs write progress and
// their own logging to stderr, so stderr says nothing about failure; the
// exit code does, and the scheduler logs a failed run at ERROR ("job
// failed"). Filter on stream=stderr to see only that stream.
const MsgJobOutput = "job output"

// NewLogger returns the scheduler's logger writing to w in format "text"
// (for people: durations like 8.1s) or "json" (for CloudWatch Logs
// Insights and jq: durations as seconds in a number, under the attribute's
// name plus "_s", e.g. duration_s, and times in RFC 3339 with
// milliseconds).
func NewLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: jsonAttr}))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: textAttr}))
}

// rfc3339Milli is RFC 3339 with exactly three fractional digits, so that
// times line up and sort as text.
const rfc3339Milli = "2006-01-02T15:04:05.000Z07:00"

func jsonAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.Float64(a.Key+"_s", a.Value.Duration().Seconds())
	case slog.KindTime:
		return slog.String(a.Key, a.Value.Time().UTC().Format(rfc3339Milli))
	}
	return a
}

func textAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Duration(a.Key, humanDuration(a.Value.Duration()))
	}
	return a
}

// humanDuration rounds d to what a reader needs: tenths of a second from
// one second up (8.1s), milliseconds below (350ms), microseconds below one
// millisecond.
func humanDuration(d time.Duration) time.Duration {
	switch abs := max(d, -d); {
	case abs >= time.Second:
		return d.Round(100 * time.Millisecond)
	case abs >= time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}
