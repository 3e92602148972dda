package schedule

// The crontab as Parse returns it, its errors, and the reader that sends
// each line to the parser of its kind (parse_env.go, parse_directives.go,
// parse_schedule.go).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/leadergate/leadergate/internal/exitcode"
)

// DefaultShell runs the commands of a crontab without a SHELL= line.
const DefaultShell = "/bin/sh"

// maxLine bounds one crontab line; longer lines are an error, not a crash.
const maxLine = 64 << 10

// Schedule tells when a job is due next: the first activation strictly after
// t. A zero time means never.
type Schedule interface {
	Next(t time.Time) time.Time
}

// Crontab is a parsed crontab file.
type Crontab struct {
	File string // the name given to Parse, for messages
	Jobs []Job
	// Warnings are lines that parse but probably do not mean what they
	// say; --check prints them (and fails on them with --strict).
	Warnings []LineError
}

// Job is one job line of a crontab.
type Job struct {
	// Name identifies the job: in logs, metrics, LEADERGATE_JOB, to the
	// Authority and as the tick ledger's key. It is the "# name:" comment
	// above the line, else [DerivedName] of its schedule, zone and command,
	// never its line number.
	Name string
	// Named is set when Name comes from "# name:": editing the job keeps
	// its identity. Without it, an edit of the schedule, the zone or the
	// command makes it another job.
	Named bool
	File  string // as given to Parse
	Line  int
	// Spec is the schedule as written, without marker or time zone:
	// "0 3 * * *", "*/10 * * * * *", "@daily", "@every 5m".
	Spec     string
	Schedule Schedule
	// TZ is the zone the schedule is read in: CRON_TZ= on the line, else
	// the last CRON_TZ= line above it, else time.Local.
	TZ      *time.Location
	Command string
	Shell   string   // SHELL= above the line, else DefaultShell
	Env     []string // NAME=value lines above the line, in file order
	// EveryInstance is set by the [all] marker: the job runs on every
	// instance, without asking the Authority.
	EveryInstance bool

	// Fields set by directives, the "# key: value" comments above the job
	// line (see [directives]).

	// Timeout stops a run that takes longer ("# timeout: 2h"): SIGTERM to
	// its process group, SIGKILL after the grace period. 0: no limit.
	Timeout time.Duration
	// Ping is a healthchecks.io-style URL pinged at start (URL/start), on
	// success (URL) and on failure (URL/<exit code> or URL/fail, with the
	// output's tail) ("# ping: URL"); empty: none.
	Ping string
	// OnFailure is a shell command run after a failed run
	// ("# on-failure: COMMAND"); empty: the scheduler's default.
	OnFailure string
	// CatchUp ("# catch-up: 2h", with the ledger) runs the most recent tick
	// missed within it once, late, after a gap in which no scheduler ran.
	CatchUp time.Duration
	// RerunLost ("# on-lost: rerun", with the ledger) reruns a run whose
	// instance died mid-job; by default such a run is recorded lost.
	RerunLost bool
	// Jitter delays each run by a random time below it ("# jitter: 30s"),
	// to spread a fleet's jobs; the tick stays the nominal one everywhere.
	Jitter time.Duration
	// Retries and RetryBackoff ("# retry: 3 backoff 30s") run a failed run
	// again up to Retries times, after RetryBackoff doubled each time
	// (capped at an hour, jittered); same instance, same tick.
	Retries      int
	RetryBackoff time.Duration
}

// Next returns the job's first run after t, with cron's rules for
// daylight saving time (see [cronSpec]); @every jobs run at the multiples
// of their interval since the Unix epoch (see [every]).
func (j Job) Next(t time.Time) time.Time { return j.Schedule.Next(t) }

// LineError is one bad line of a crontab.
type LineError struct {
	File  string
	Line  int
	Field string // "minute", "day-of-week", "command", "time zone", ...
	Value string // the offending text
	Msg   string // what is wrong, and the fix where there is one
}

func (e LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s %q: %s", e.File, e.Line, e.Field, e.Value, e.Msg)
}

// ParseError lists every bad line of a crontab, one per line of its
// message. Its exit code is 65 (EX_DATAERR).
type ParseError struct {
	File  string
	Lines []LineError
}

func (e *ParseError) Error() string {
	s := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		s[i] = l.Error()
	}
	return strings.Join(s, "\n")
}

// ExitCode is 65, EX_DATAERR: the crontab is bad.
func (e *ParseError) ExitCode() int { return exitcode.Crontab }

// FileError is a crontab that cannot be used whatever its content: missing,
// unreadable, not a regular file, or unsafe. Its exit code is 78
// (EX_CONFIG).
type FileError struct {
	File string
	Msg  string // the problem and the fix
	Err  error  // underlying cause, if any
}

func (e *FileError) Error() string { return e.Msg }
func (e *FileError) Unwrap() error { return e.Err }

// ExitCode is 78, EX_CONFIG.
func (e *FileError) ExitCode() int { return exitcode.Config }

// Compiled on first use, not at start-up: every leadergate process pays
// for package initialisation, and `check` and `run` parse no crontab.
var (
	envLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$`) })
	// "# key: value"; whether it is a directive depends on the key.
	directiveLine = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*:[ \t]*(.*)$`)
	})
	validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$`) })
)

// Parse reads a crontab from r; filename is used in messages and default
// job names. A bad file gives a *ParseError listing every bad line. Parse
// never panics, whatever r holds.
func Parse(r io.Reader, filename string) (*Crontab, error) {
	p := &parser{
		file:  filename,
		shell: DefaultShell,
		tz:    time.Local,
		names: map[string]int{},
	}
	c := &Crontab{File: filename}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if errors.Is(err, errNotText) {
			// A binary file would give an error per "line": one says it all.
			return nil, &ParseError{File: filename, Lines: []LineError{{File: filename, Line: n,
				Msg: "not a text file: this line holds a NUL byte (a binary file, or text saved as UTF-16): pass the crontab, as plain text (UTF-8)"}}}
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errLineTooLong) {
			return nil, &FileError{File: filename, Err: err, Msg: fmt.Sprintf("read crontab %s: %v", filename, err)}
		}
		if errors.Is(err, errLineTooLong) {
			p.errorf(n, "", "", "line longer than %d bytes: shorten it, or move the command into a script", maxLine)
		} else if line != "" || err == nil {
			if n == 1 {
				line = strings.TrimPrefix(line, "\ufeff")
			}
			if job, ok := p.line(n, line); ok {
				c.Jobs = append(c.Jobs, job)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	p.dropPending(0, "the end of the file")
	if len(p.errs) > 0 {
		return nil, &ParseError{File: filename, Lines: p.errs}
	}
	c.Warnings = p.warns
	return c, nil
}

var (
	errLineTooLong = errors.New("line too long")
	errNotText     = errors.New("not a text file")
)

// readLine returns one line without its end of line (LF or CRLF). A line
// longer than maxLine is consumed and reported as errLineTooLong, one
// holding a NUL byte as errNotText.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if bytes.IndexByte(chunk, 0) >= 0 {
			return "", errNotText
		}
		if len(b)+len(chunk) <= maxLine+2 {
			b = append(b, chunk...)
		} else {
			b = b[:maxLine+3] // mark as too long, keep memory bounded
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(b) > maxLine+2 {
			if err == nil {
				return "", errLineTooLong
			}
			return "", fmt.Errorf("%w: %w", errLineTooLong, err)
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		return s, err
	}
}

type parser struct {
	file  string
	shell string
	tz    *time.Location
	env   []string
	names map[string]int // name → line
	// pending holds the directives read since the last job line, waiting
	// for their job; next holds the fields they set.
	pending []pendingDirective
	next    Job
	errs    []LineError
	warns   []LineError
}

type pendingDirective struct {
	key, value string
	line       int
}

func (p *parser) errorf(line int, field, value, format string, args ...any) {
	p.errs = append(p.errs, LineError{File: p.file, Line: line, Field: field, Value: value, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(line int, field, value, format string, args ...any) {
	p.warns = append(p.warns, LineError{File: p.file, Line: line, Field: field, Value: value, Msg: fmt.Sprintf(format, args...)})
}

// line parses one line; ok reports a job. Errors are collected in p.
func (p *parser) line(n int, raw string) (job Job, ok bool) {
	defer func() {
		// Never let a crontab crash the scheduler (robfig/cron, the parser
		// leadergate once used, panicked on "TZ=0": robfig/cron#554).
		if r := recover(); r != nil {
			p.errorf(n, "", "", "cannot parse line (internal error: %v): please report it", r)
			job, ok = Job{}, false
		}
	}()
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		p.dropPending(n, "a blank line")
		return Job{}, false
	case strings.HasPrefix(s, "#"):
		// A comment, as in cron: the first non-blank is '#'. It may be a
		// directive for the job below.
		if m := directiveLine().FindStringSubmatch(s); m != nil {
			p.directive(n, m[1], strings.TrimSpace(m[2]))
		}
		return Job{}, false
	}
	if m := envLine().FindStringSubmatch(s); m != nil {
		key, val := m[1], stripComment(m[2])
		if (key == "CRON_TZ" || key == "TZ") && len(strings.Fields(val)) > 1 {
			return p.job(n, s) // a time zone prefix on a job line
		}
		p.dropPending(n, "an environment line")
		p.setenv(n, key, val)
		return Job{}, false
	}
	c := s[0]
	if c == '@' || c == '*' || c == '?' || c == '[' || (c >= '0' && c <= '9') {
		return p.job(n, s)
	}
	p.dropPending(n, "a bad line")
	p.errorf(n, "line", truncate(s), "neither a job (schedule then command), an environment setting (NAME=value) nor a comment (#)")
	return Job{}, false
}
