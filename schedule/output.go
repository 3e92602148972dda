package schedule

import (
	"bytes"
	"context"
	"log/slog"
)

// maxLogLine is the longest piece of output logged as one record; longer
// lines are split into several records, never dropped.
const maxLogLine = 16 << 10

// lineLogger is the io.Writer given to a job's stdout or stderr: it logs
// each line as its own record, tagged with the stream. exec.Cmd copies a
// pipe into it from one goroutine and returns from Wait only when the copy
// is done, so output written just before a quick exit is not lost; Flush
// then logs an unterminated last line.
type lineLogger struct {
	log    *slog.Logger
	stream string
	buf    []byte
}

func newLineLogger(log *slog.Logger, stream string) *lineLogger {
	return &lineLogger{log: log, stream: stream}
}

func (l *lineLogger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.buf = append(l.buf, p...)
			for len(l.buf) >= maxLogLine {
				l.emit(l.buf[:maxLogLine])
				l.buf = append(l.buf[:0], l.buf[maxLogLine:]...)
			}
			break
		}
		line := p[:i]
		if len(l.buf) > 0 {
			line = append(l.buf, line...)
		}
		for len(line) > maxLogLine {
			l.emit(line[:maxLogLine])
			line = line[maxLogLine:]
		}
		l.emit(bytes.TrimSuffix(line, []byte("\r")))
		l.buf = l.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// Flush logs what is left of an unterminated last line.
func (l *lineLogger) Flush() {
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
}

// emit logs one line as a MsgJobOutput record, at INFO for both streams
// (see MsgJobOutput for why).
func (l *lineLogger) emit(line []byte) {
	l.log.LogAttrs(context.Background(), slog.LevelInfo, MsgJobOutput, slog.String("stream", l.stream), slog.String("line", string(line)))
}
