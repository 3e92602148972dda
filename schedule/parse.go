package schedule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"

	"github.com/leadergate/leadergate/gate"
)

// DefaultShell runs the commands of a crontab without a SHELL= line.
const DefaultShell = "/bin/sh"

// maxLine bounds one crontab line; longer lines are an error, not a crash.
const maxLine = 64 << 10

// Schedule tells when a job is due next: the first activation strictly after
// t. A zero time means never. Every [cron.Schedule] is one.
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
	// Name identifies the job in logs, in LEADERGATE_JOB and to the
	// Authority: the "# name:" comment above the line, else "base:line"
	// (the file's base name and the line number).
	Name string
	File string // as given to Parse
	Line int
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
// daylight saving time (see [cronSpec]); @every jobs run by elapsed time.
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
func (e *ParseError) ExitCode() int { return ExitBadCrontab }

// ExitBadCrontab is sysexits' EX_DATAERR: the crontab has bad lines.
const ExitBadCrontab = 65

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
func (e *FileError) ExitCode() int { return gate.ExitConfig }

// ParseFile reads and parses the crontab at path after the safety checks
// cron makes: the file must be a regular file, not writable by group or
// others, and owned by root or by the user running leadergate. Otherwise
// the error is a *FileError (exit 78) naming the fix.
func ParseFile(path string) (*Crontab, error) { return parseFile(path, true) }

// CheckFile is ParseFile for `schedule --check`, which runs nothing: it
// does not require the file to be root's or the caller's, so that a deploy
// script running as root can validate the crontab of the user the
// scheduler will run as. The scheduler itself still checks the owner.
func CheckFile(path string) (*Crontab, error) { return parseFile(path, false) }

func parseFile(path string, checkOwner bool) (*Crontab, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{File: path, Err: err,
			Msg: fmt.Sprintf("cannot read crontab: %v: check the path, or pass the file as an argument", err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &FileError{File: path, Err: err, Msg: fmt.Sprintf("cannot stat crontab: %v", err)}
	}
	if err := checkSafe(path, fi, checkOwner); err != nil {
		return nil, err
	}
	return Parse(f, path)
}

func checkSafe(path string, fi os.FileInfo, checkOwner bool) error {
	if !fi.Mode().IsRegular() {
		return &FileError{File: path, Msg: fmt.Sprintf("crontab %s is %s, not a regular file: pass the path of a file", path, fileKind(fi.Mode()))}
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return &FileError{File: path, Msg: fmt.Sprintf(
			"crontab %s is writable by group or others (mode %04o), so anyone could run commands through it: run chmod go-w %s",
			path, fi.Mode().Perm(), path)}
	}
	if uid, ok := fileOwner(fi); checkOwner && ok && uid != 0 && uid != os.Geteuid() {
		return &FileError{File: path, Msg: fmt.Sprintf(
			"crontab %s is owned by uid %d, neither root nor the user running leadergate (uid %d): run chown %d %s, or run leadergate as its owner",
			path, uid, os.Geteuid(), os.Geteuid(), path)}
	}
	return nil
}

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
		base:  filepath.Base(filename),
		shell: DefaultShell,
		tz:    time.Local,
		names: map[string]int{},
	}
	c := &Crontab{File: filename}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := readLine(br)
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

var errLineTooLong = errors.New("line too long")

// readLine returns one line without its end of line (LF or CRLF). A line
// longer than maxLine is consumed and reported as errLineTooLong.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
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
	file, base string
	shell      string
	tz         *time.Location
	env        []string
	names      map[string]int // name → line
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
		// robfig/cron panics on some input (robfig/cron#554); never let a
		// crontab crash the scheduler.
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

// directives is the table of known directives: "# key: value" comment
// lines directly above a job line (only other comments may stand between
// them). Each sets its field of the Job from the value, or says what is
// wrong with it and the fix. A comment whose key is not in the table is an
// ordinary comment ("# note: ..."), with a warning when the key looks like
// a misspelt directive.
var directives = map[string]func(j *Job, value string) error{
	"name":       setName,
	"timeout":    setTimeout,
	"ping":       setPing,
	"on-failure": setOnFailure,
	"catch-up":   setCatchUp,
	"on-lost":    setOnLost,
	"jitter":     setJitter,
	"retry":      setRetry,
}

func setRetry(j *Job, v string) error {
	const how = "write e.g. # retry: 3 backoff 30s (at most 10 retries)"
	f := strings.Fields(v)
	if len(f) != 3 || f[1] != "backoff" {
		return errors.New("not N backoff DURATION: " + how)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 || n > 10 {
		return errors.New("the number of retries must be 1 to 10: " + how)
	}
	d, err := time.ParseDuration(f[2])
	if err != nil || d <= 0 {
		return errors.New("the backoff must be a positive duration: " + how)
	}
	j.Retries, j.RetryBackoff = n, d
	return nil
}

func setJitter(j *Job, v string) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return errors.New("not a duration: write e.g. # jitter: 30s")
	case d <= 0:
		return errors.New("must be positive: write e.g. # jitter: 30s (leave the line out for none)")
	}
	j.Jitter = d
	return nil
}

func setPing(j *Job, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http(s) URL: write e.g. # ping: https://hc-ping.com/UUID")
	}
	j.Ping = strings.TrimSuffix(v, "/")
	return nil
}

func setOnFailure(j *Job, v string) error {
	if v == "" {
		return errors.New("empty: write the command, e.g. # on-failure: /usr/local/bin/alert")
	}
	j.OnFailure = v
	return nil
}

func setCatchUp(j *Job, v string) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return errors.New("not a duration: write e.g. # catch-up: 2h (with --ledger)")
	case d <= 0:
		return errors.New("must be positive: write e.g. # catch-up: 2h (leave the line out for none)")
	}
	j.CatchUp = d
	return nil
}

func setOnLost(j *Job, v string) error {
	switch v {
	case "rerun":
		j.RerunLost = true
	case "report":
		j.RerunLost = false
	default:
		return errors.New("write # on-lost: rerun (the job may run twice) or # on-lost: report (the default)")
	}
	return nil
}

func setName(j *Job, v string) error {
	switch {
	case v == "":
		return errors.New("empty: write # name: NAME directly above the job line")
	case !validName().MatchString(v):
		return errors.New("use only letters, digits and . _ - : / @ +, starting with a letter or digit")
	}
	j.Name = v
	return nil
}

func setTimeout(j *Job, v string) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return errors.New("not a duration: write e.g. # timeout: 90s, 30m or 2h")
	case d <= 0:
		return errors.New("must be positive: write e.g. # timeout: 30m (leave the line out for no limit)")
	case d%time.Second != 0:
		return errors.New("not a whole number of seconds: write e.g. 90s or 30m")
	}
	j.Timeout = d
	return nil
}

// directive reads one "# key: value" comment.
func (p *parser) directive(n int, key, value string) {
	set, ok := directives[key]
	if !ok {
		if near := nearDirective(key); near != "" {
			p.warnf(n, "comment", "# "+key+":", "not a directive, so it is ignored: did you mean # %s:?", near)
		}
		return
	}
	for _, d := range p.pending {
		if d.key == key {
			p.errorf(n, key, value, "the job below already has # %s: on line %d: keep one per job", key, d.line)
			return
		}
	}
	if err := set(&p.next, value); err != nil {
		p.errorf(n, key, value, "%v", err)
	}
	p.pending = append(p.pending, pendingDirective{key: key, value: value, line: n})
}

// nearDirective returns the known key that key probably means: the same
// in another case, or one or two edits away. "" when none.
func nearDirective(key string) string {
	lower := strings.ToLower(key)
	best, bestDist := "", 3
	for k := range directives {
		if d := editDistance(lower, k); d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	if bestDist > 2 || (bestDist == 2 && len(key) < 5) {
		return ""
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of neighbours that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// dropPending reports directives that are not followed by their job: only
// other comment lines may stand between them. n is 0 at the end of the file.
func (p *parser) dropPending(n int, what string) {
	for _, d := range p.pending {
		at := what
		if n > 0 {
			at = fmt.Sprintf("%s on line %d", what, n)
		}
		p.errorf(d.line, d.key, d.value, "followed by %s, not by a job line: put the # %s: comment directly above its job", at, d.key)
	}
	p.pending, p.next = nil, Job{}
}

// stripComment removes a trailing comment from an environment value: a
// '#' after a blank, outside quotes, starts one ("PATH=/bin   # note").
// Inside quotes '#' is literal, and so is one not after a blank
// ("URL=http://host/#top").
func stripComment(v string) string {
	var quote byte
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if i == 0 {
				quote = c
			}
		case c == '#' && i > 0 && (v[i-1] == ' ' || v[i-1] == '\t'):
			return strings.TrimRight(v[:i], " \t")
		}
	}
	return v
}

func (p *parser) setenv(n int, key, val string) {
	v, err := unquote(val)
	if err != nil {
		p.errorf(n, key+" value", val, "%v", err)
		return
	}
	switch key {
	case "SHELL":
		if !strings.HasPrefix(v, "/") {
			p.errorf(n, "SHELL", v, "must be an absolute path, e.g. SHELL=/bin/bash")
			return
		}
		// Every job would fail with 127: say so now.
		if fi, err := os.Stat(v); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			why := "is not an executable file"
			if err != nil {
				why = "does not exist"
			}
			p.errorf(n, "SHELL", v, "%s, so every job below would fail: name an installed shell, e.g. SHELL=/bin/sh", why)
			return
		}
		p.shell = v
	case "CRON_TZ":
		loc, msg := loadZone(v)
		if msg != "" {
			p.errorf(n, "time zone", v, "%s", msg)
			return
		}
		p.tz = loc
	}
	p.env = append(p.env, key+"="+v)
}

// unquote strips one pair of matching quotes; inside them everything is
// literal. Unquoted values are taken as written, trimmed.
func unquote(v string) (string, error) {
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return v, nil
	}
	q := v[0]
	end := strings.IndexByte(v[1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated %c quote: close it at the end of the value", q)
	}
	if rest := strings.TrimSpace(v[end+2:]); rest != "" {
		return "", fmt.Errorf("text %q after the closing quote: quote the whole value", rest)
	}
	return v[1 : end+1], nil
}

// job parses a job line: [all]? (CRON_TZ=Zone|TZ=Zone)? schedule command.
func (p *parser) job(n int, s string) (Job, bool) {
	j := p.next // the fields set by the directives above
	p.pending, p.next = nil, Job{}
	name := j.Name
	j.File, j.Line, j.Shell, j.TZ = p.file, n, p.shell, p.tz
	j.Env = append([]string(nil), p.env...)
	bad := len(p.errs)
	rest := s
	sawTZ := false
	for {
		tok, after := nextToken(rest)
		switch {
		case tok == "[all]":
			if j.EveryInstance {
				p.errorf(n, "marker", tok, "given twice: write it once, at the start of the line")
			}
			j.EveryInstance = true
			rest = after
			continue
		case strings.HasPrefix(tok, "[") && strings.HasSuffix(tok, "]"):
			p.errorf(n, "marker", tok, "unknown: the only marker is [all] (run on every instance)")
			rest = after
			continue
		case strings.HasPrefix(tok, "CRON_TZ=") || strings.HasPrefix(tok, "TZ="):
			zone := tok[strings.IndexByte(tok, '=')+1:]
			if sawTZ {
				p.errorf(n, "time zone", zone, "given twice: write one CRON_TZ= per line")
			}
			sawTZ = true
			if loc, msg := loadZone(zone); msg != "" {
				p.errorf(n, "time zone", zone, "%s", msg)
			} else {
				j.TZ = loc
			}
			rest = after
			continue
		}
		break
	}
	spec, cmd := p.schedule(n, rest)
	j.Spec = spec
	j.Command = cmd
	if spec != "" && cmd == "" {
		p.errorf(n, "command", "", "missing after the schedule %q: a job line is the schedule, then the command", spec)
	}
	if len(p.errs) > bad {
		return Job{}, false
	}
	sched, err := buildSchedule(spec, j.TZ)
	if err != nil {
		p.errorf(n, "schedule", spec, "%v", err)
		return Job{}, false
	}
	if _, ok := sched.(*cronSpec); ok && sched.Next(neverRef).IsZero() {
		p.errorf(n, "schedule", spec, "never fires: no such date; check the day-of-month and month fields")
		return Job{}, false
	}
	j.Schedule = sched
	j.Name = fmt.Sprintf("%s:%d", p.base, n)
	if name != "" {
		j.Name = name
	}
	if prev, dup := p.names[j.Name]; dup {
		p.errorf(n, "name", j.Name, "already used by line %d: give each job its own name", prev)
		return Job{}, false
	}
	p.names[j.Name] = n
	return j, true
}

// neverRef is a fixed start for the "never fires" check, so Parse reads no
// clock; a day that exists at all exists within robfig's 5-year search.
var neverRef = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func loadZone(zone string) (*time.Location, string) {
	if zone == "" {
		return nil, "empty: write e.g. CRON_TZ=Europe/Berlin or CRON_TZ=UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, "unknown time zone: use an IANA name such as UTC or Europe/Berlin"
	}
	return loc, ""
}

// nextToken splits off the first whitespace-separated token of s.
func nextToken(s string) (tok, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

var descriptors = map[string]bool{
	"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true,
}

// schedule splits s into the schedule spec and the command, validating the
// schedule field by field so that errors name the field. spec is "" when
// the schedule was bad (the error is recorded).
func (p *parser) schedule(n int, s string) (spec, cmd string) {
	tok, rest := nextToken(s)
	if tok == "" {
		p.errorf(n, "schedule", "", "missing: a job line is the schedule (5 fields, 6 with seconds, or @daily, @every 5m, ...), then the command")
		return "", ""
	}
	if strings.HasPrefix(tok, "@") {
		switch {
		case descriptors[tok]:
			return tok, rest
		case tok == "@every":
			d, after := nextToken(rest)
			if msg := checkEvery(d); msg != "" {
				p.errorf(n, "@every duration", d, "%s", msg)
				return "", ""
			}
			return "@every " + d, after
		case tok == "@reboot":
			p.errorf(n, "schedule", tok, "not supported: leadergate runs jobs on a schedule only; start such a command from systemd or a deploy hook")
		default:
			p.errorf(n, "schedule", tok, "unknown descriptor: use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every DURATION")
		}
		return "", ""
	}
	// Five fields, or six with a leading seconds field: the sixth token is
	// a seconds-form day-of-week only if it reads as one.
	var fields []string
	r := s
	for i := 0; i < 6; i++ {
		var t string
		t, r = nextToken(r)
		if t == "" {
			break
		}
		fields = append(fields, t)
	}
	names := fieldNames5
	if len(fields) == 6 && looksLikeField(fields[5]) && checkField(fields[5], fieldBounds["day-of-week"]) == "" {
		names = fieldNames6
		if strings.ContainsFunc(fields[5], unicode.IsLetter) && checkField(fields[0], fieldBounds["second"]) == "" {
			// "*/5 * * * * mon -f /etc/mon.cf": a five-field job running
			// mon, or a six-field one on Mondays?
			five := strings.Join(fields[:5], " ")
			p.warnf(n, "schedule", strings.Join(fields, " "),
				"read as six fields, seconds first (%s seconds, ..., on %s); if %q is the command, this is the five-field schedule %q: write the command's full path, or a six-field schedule such as \"0 %s\"",
				fields[0], fields[5], fields[5], five, five)
		}
	} else if len(fields) > 5 {
		fields = fields[:5]
	}
	if len(fields) < 5 {
		p.errorf(n, "schedule", strings.Join(fields, " "), "%d fields, a schedule needs 5 (minute hour day-of-month month day-of-week), or 6 with a leading seconds field, then the command", len(fields))
		return "", ""
	}
	ok := true
	for i, f := range fields {
		if msg := checkField(f, fieldBounds[names[i]]); msg != "" {
			if i == len(fields)-1 && !looksLikeField(f) {
				msg += "; is a schedule field missing before the command?"
			}
			p.errorf(n, names[i]+" field", f, "%s", msg)
			ok = false
		}
	}
	if !ok {
		return "", ""
	}
	cmd = s
	for range fields {
		_, cmd = nextToken(cmd)
	}
	return strings.Join(fields, " "), cmd
}

func checkEvery(d string) string {
	if d == "" {
		return "missing: write e.g. @every 5m or @every 1h30m"
	}
	dur, err := time.ParseDuration(d)
	switch {
	case err != nil:
		return "not a duration: write e.g. 90s, 5m or 1h30m"
	case dur < time.Second:
		return "shorter than 1s: the scheduler fires at most once a second"
	case dur%time.Second != 0:
		return "not a whole number of seconds: the scheduler fires on whole seconds"
	}
	return ""
}

var (
	fieldNames5 = []string{"minute", "hour", "day-of-month", "month", "day-of-week"}
	fieldNames6 = []string{"second", "minute", "hour", "day-of-month", "month", "day-of-week"}
)

type bounds struct {
	min, max int
	names    map[string]int
	hint     string
}

var fieldBounds = map[string]bounds{
	"second":       {min: 0, max: 59},
	"minute":       {min: 0, max: 59},
	"hour":         {min: 0, max: 23},
	"day-of-month": {min: 1, max: 31},
	"month": {min: 1, max: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}, hint: "jan-dec"},
	"day-of-week": {min: 0, max: 6, names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}, hint: "sun-sat"},
}

// looksLikeField reports whether s is made only of characters a schedule
// field can hold and holds a digit, '*', '?' or a day name: a command
// rarely does.
func looksLikeField(s string) bool {
	if strings.Trim(s, "0123456789*?,-/") == "" {
		return true
	}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
		if _, ok := fieldBounds["day-of-week"].names[strings.ToLower(part)]; !ok {
			if _, ok := fieldBounds["month"].names[strings.ToLower(part)]; !ok {
				return false
			}
		}
	}
	return true
}

// checkField validates one schedule field (see parseField); it returns
// what is wrong, or "".
func checkField(f string, b bounds) string {
	_, msg := parseField(f, b)
	return msg
}

// buildSchedule turns a validated spec into its schedule read in loc.
func buildSchedule(spec string, loc *time.Location) (Schedule, error) {
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return nil, err
		}
		return cron.Every(dur), nil
	}
	return newCronSpec(spec, loc)
}

func truncate(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// fileKind names what a non-regular file is, in words rather than as an
// ls-style mode string.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "a special file"
	}
}
