package schedule

import (
	"io"
	"log/slog"
)

// OutputWriter is what a command's stdout or stderr is copied into to be
// logged as the scheduler logs job output: one MsgJobOutput record per
// line, tagged with stream; Flush logs an unterminated last line.
type OutputWriter interface {
	io.Writer
	Flush()
}

// NewOutputWriter returns the OutputWriter of stream ("stdout" or
// "stderr") on log: for `leadergate service`, whose command's output reads
// like a job's.
func NewOutputWriter(log *slog.Logger, stream string) OutputWriter { return newLineLogger(log, stream) }
