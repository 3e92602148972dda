package schedule

// Job lines: markers, the time zone prefix, the schedule field by field,
// and the command.

import (
	"fmt"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

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
	if msg := badCommandStart(spec, cmd); msg != "" {
		p.errorf(n, "command", truncate(cmd), "%s", msg)
		spec = ""
	}
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
	if name != "" {
		j.Name, j.Named = name, true
		if prev, dup := p.names[j.Name]; dup {
			p.errorf(n, "name", j.Name, "already used by line %d: give each job its own name", prev)
			return Job{}, false
		}
	} else {
		j.Name = p.derivedName(n, j)
	}
	p.names[j.Name] = n
	return j, true
}

// derivedName is DerivedName, made unique in the file: a job with the
// same schedule, zone and command as one above it (another environment,
// say) gets "-2", "-3", ... after it, which depends on their order, so
// such jobs are told to take a name.
func (p *parser) derivedName(n int, j Job) string {
	base := DerivedName(j.Spec, j.TZ, j.Command)
	name := base
	for k := 2; ; k++ {
		prev, dup := p.names[name]
		if !dup {
			break
		}
		if k == 2 {
			p.warnf(n, "job", j.Command, "has the schedule, zone and command of line %d, so only their order tells their identities apart (%s, %s-2): give each a # name:", prev, base, base)
		}
		name = fmt.Sprintf("%s-%d", base, k)
	}
	return name
}

// neverRef is a fixed start for the "never fires" check, so Parse reads no
// clock; a day that exists at all comes within cronSpec's search
// (searchYears).
var neverRef = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

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
	warned := false
	if len(fields) == 6 && looksLikeField(fields[5]) && checkField(fields[5], fieldBounds["day-of-week"]) == "" {
		names = fieldNames6
		if strings.ContainsFunc(fields[5], unicode.IsLetter) && checkField(fields[0], fieldBounds["second"]) == "" {
			warned = true
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
	if len(fields) == 6 && !warned {
		p.sixFields(n, fields)
	}
	return strings.Join(fields, " "), cmd
}

// badCommandStart says what is wrong with a command that starts with
// something no command starts with, or "". Such a first word is a schedule
// field too many, or a glob the shell would replace by whatever file
// names match it: "* * * * * * * echo x" was an every-second job running
// "* echo x".
func badCommandStart(spec, cmd string) string {
	first, _ := nextToken(cmd)
	fields := len(strings.Fields(spec))
	switch {
	case spec == "" || first == "":
		return ""
	case yearField().MatchString(first):
		return fmt.Sprintf("starts with %q, a year: leadergate has no year field (supercronic's last field): remove it", first)
	case first == "*" || first == "?" || numericField(first):
		switch {
		case strings.HasPrefix(spec, "@"):
			return fmt.Sprintf("starts with %q, which looks like a schedule field: %s is the whole schedule: remove it", first, spec)
		case fields == 6:
			return fmt.Sprintf("starts with %q, a seventh schedule field: a schedule has 5 fields, or 6 with seconds first, and no year: remove the extra field", first)
		}
		return fmt.Sprintf("starts with %q, which looks like a sixth schedule field but is no day-of-week (0-7 or sun-sat): fix the schedule; a command does not start with it", first)
	case first[0] == '*' || first[0] == '?' || first[0] == '[' && first != "[" && first != "[[":
		return fmt.Sprintf("starts with %q, a shell glob: the shell would run whatever file name matches it: write the command's name or path", first)
	}
	return ""
}

// yearField matches a year, or a list, range or step of years, as
// supercronic (gorhill/cronexpr) reads them in its last field.
var yearField = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(19[7-9][0-9]|2[01][0-9][0-9])([-,/][0-9,/-]*)?$`) })

// numericField reports whether s is made of digits and the characters of
// a schedule field (",-/*?") only, with a digit: no command is.
func numericField(s string) bool {
	return strings.Trim(s, "0123456789*?,-/") == "" && strings.ContainsAny(s, "0123456789")
}

// sixFields warns about a six-field schedule, read seconds first: one that
// runs several times a minute, and one that supercronic, the scheduler
// many crontabs come from, reads year last: a sixth field "*" is a valid
// day-of-week and a valid year, so "*/5 * * * * *", every 5 minutes
// there, is every 5 seconds here. A sixth field "?" is no year in
// supercronic, so it marks a six-field line as seconds first; a sixth
// field that is neither "*" nor "?" cannot be a year and a day-of-week
// at once.
func (p *parser) sixFields(n int, f []string) {
	spec := strings.Join(f, " ")
	five, asYearLast := strings.Join(f[1:], " "), strings.Join(f[:5], " ")
	yearLast := f[5] == "*"
	secs, _ := parseField(f[0], fieldBounds["second"])
	if perMinute := bits.OnesCount64(secs); perMinute > 1 {
		msg := fmt.Sprintf("runs %d times a minute: six fields are read seconds first, as %q at seconds %s", perMinute, five, f[0])
		if yearLast {
			msg += fmt.Sprintf("; supercronic reads six fields year last, as %q: if the line comes from there, write that", asYearLast)
		}
		if d := everyFor(f); d != "" {
			msg += fmt.Sprintf("; for a job that runs every few seconds, write @every %s, which says so", d)
		}
		p.warnf(n, "schedule", spec, "%s", msg)
		return
	}
	if !yearLast {
		return
	}
	keep := fmt.Sprintf("write the day-of-week as ? (%q) to keep seconds first", asYearLast+" ?")
	if f[0] == "0" {
		keep = fmt.Sprintf("write the five fields %q to keep this", five)
	}
	p.warnf(n, "schedule", spec, "six fields are read seconds first, as %q at second %s; supercronic reads them year last, as %q: write that if the line comes from there, or %s",
		five, f[0], asYearLast, keep)
}

// everyFor is the @every interval that a per-second schedule f means when
// it is one ("*/5 * * * * *" is @every 5s), or "".
func everyFor(f []string) string {
	for _, x := range f[1:] {
		if x != "*" && x != "?" {
			return ""
		}
	}
	step := 1
	if s, ok := strings.CutPrefix(f[0], "*/"); ok {
		step, _ = strconv.Atoi(s)
	} else if f[0] != "*" {
		return ""
	}
	if step < 1 || 60%step != 0 {
		return ""
	}
	return strconv.Itoa(step) + "s"
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
		return newEvery(dur), nil
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
