package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronSpec is a field schedule read in a zone, with cron's rules for
// daylight saving time (cronie's cron(8)):
//
//   - A fixed-time job (neither its minute nor its hour field starts with
//     '*') whose time falls in a skipped interval (clocks spring forward)
//     runs at the first instant after the change; in a repeated interval
//     (clocks fall back) it runs only in the first pass. That rule depends
//     on the wall clock alone, so a scheduler started or reloaded inside
//     the repeated interval does not run the job again.
//   - A wildcard job (minute or hour field starting with '*': hourly,
//     */30) runs at every instant whose wall clock matches, in both passes
//     of a repeated interval and never in a skipped one: it runs by elapsed
//     time, and never twice at one instant.
//
// The search walks wall-clock times (seconds, as in a calendar, free of
// any zone) and maps each to its instants, so a zone that changes by 30
// minutes (Australia/Lord_Howe) or at midnight (America/Santiago) is no
// special case.
type cronSpec struct {
	second, minute, hour, dom, month, dow uint64
	domStar, dowStar                      bool // the field starts with '*' or '?'
	wildcard                              bool // the minute or hour field does
	loc                                   *time.Location
}

// searchYears bounds the search: a 29 February comes at least once in
// nine years (2096 to 2104 has none in between).
const searchYears = 9

// Next returns the first run strictly after t, or the zero time if there
// is none within searchYears.
func (s *cronSpec) Next(t time.Time) time.Time {
	loc := s.loc
	if loc == nil {
		loc = time.UTC
	}
	minOff, _ := offsetSpan(t, loc)
	// Every run of wall time w is at or before w - minOff: start where a
	// run could come after t.
	w := wallOf(t, loc).Add(time.Duration(-offsetOf(t, loc)+minOff) * time.Second).Truncate(time.Second)
	end := w.AddDate(searchYears, 0, 1)
	var best time.Time
	bestMax := 0
	for {
		w = s.nextWall(w, end)
		if w.IsZero() {
			return best
		}
		// Runs of w and later wall times are at or after w - maxOff.
		if !best.IsZero() && instantOf(w, bestMax).After(best) {
			return best
		}
		for _, u := range s.runsAt(w, loc) {
			if u.After(t) && (best.IsZero() || u.Before(best)) {
				best = u
				_, bestMax = offsetSpan(u, loc)
			}
		}
		w = w.Add(time.Second)
	}
}

// runsAt returns the instants at which wall time w runs the job.
func (s *cronSpec) runsAt(w time.Time, loc *time.Location) []time.Time {
	us := instantsOf(w, loc)
	switch {
	case len(us) == 0 && s.wildcard:
		return nil
	case len(us) == 0:
		return []time.Time{gapEnd(w, loc)}
	case s.wildcard:
		return us
	}
	return us[:1]
}

// wallOf is t's wall clock in loc, written as a UTC time: the calendar
// arithmetic of the search runs on these, free of zone changes.
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

func offsetOf(t time.Time, loc *time.Location) int {
	_, off := t.In(loc).Zone()
	return off
}

func instantOf(w time.Time, off int) time.Time {
	return w.Add(-time.Duration(off) * time.Second)
}

// offsetSpan is the smallest and largest UTC offset of loc within a day
// and a bit either side of t: the offsets a wall time near t can have.
func offsetSpan(t time.Time, loc *time.Location) (lo, hi int) {
	lo, hi = offsetOf(t, loc), offsetOf(t, loc)
	for _, d := range []time.Duration{-26 * time.Hour, 26 * time.Hour} {
		o := offsetOf(t.Add(d), loc)
		lo, hi = min(lo, o), max(hi, o)
	}
	return lo, hi
}

// instantsOf returns the instants whose wall clock in loc is w, earliest
// first: none in a skipped interval, two in a repeated one.
func instantsOf(w time.Time, loc *time.Location) []time.Time {
	var offs []int
	for _, d := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		o := offsetOf(w.Add(d), loc)
		seen := false
		for _, x := range offs {
			seen = seen || x == o
		}
		if !seen {
			offs = append(offs, o)
		}
	}
	var us []time.Time
	for _, o := range offs {
		if u := instantOf(w, o); offsetOf(u, loc) == o {
			us = append(us, u.In(loc))
		}
	}
	if len(us) == 2 && us[1].Before(us[0]) {
		us[0], us[1] = us[1], us[0]
	}
	return us
}

// gapEnd is the instant at which the skipped interval holding wall time w
// ends: the first instant after clocks sprang forward.
func gapEnd(w time.Time, loc *time.Location) time.Time {
	_, hi := offsetSpan(w, loc)
	// w - hi lies before the change, in the zone period the change ends.
	_, end := instantOf(w, hi).In(loc).ZoneBounds()
	return end.In(loc)
}

// nextWall returns the first wall time at or after w (a whole second)
// matching every field, or zero if none is before end.
func (s *cronSpec) nextWall(w, end time.Time) time.Time {
	for w.Before(end) {
		switch {
		case s.month&(1<<uint(w.Month())) == 0:
			w = time.Date(w.Year(), w.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.dayMatches(w):
			w = time.Date(w.Year(), w.Month(), w.Day()+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<uint(w.Hour())) == 0:
			w = w.Truncate(time.Hour).Add(time.Hour)
		case s.minute&(1<<uint(w.Minute())) == 0:
			w = w.Truncate(time.Minute).Add(time.Minute)
		case s.second&(1<<uint(w.Second())) == 0:
			w = w.Add(time.Second)
		default:
			return w
		}
	}
	return time.Time{}
}

// dayMatches is cron's day rule: when both day fields are restricted
// (neither starts with '*'), either matching is enough; otherwise both
// must match.
func (s *cronSpec) dayMatches(w time.Time) bool {
	dom := s.dom&(1<<uint(w.Day())) != 0
	dow := s.dow&(1<<uint(w.Weekday())) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// parseField reads one schedule field as cron does: a comma list of *, ?,
// N or N-M (numbers or, for months and days of the week, names in any
// case), a range or * optionally followed by /STEP. In the day-of-week
// field 7 is Sunday, also in ranges (5-7, fri-sun). It returns the bits of
// the values, or what is wrong.
func parseField(f string, b bounds) (bits uint64, msg string) {
	whole := func(v string) bool { return v == f }
	rangeText := fmt.Sprintf("%d-%d", b.min, b.max)
	if b.hint != "" {
		rangeText += " or " + b.hint
	}
	max := b.max
	if b.hint == "sun-sat" {
		max = 7 // 7 is Sunday, as in cron
		rangeText = "0-7 or sun-sat"
	}
	for _, elem := range strings.Split(f, ",") {
		if elem == "" {
			return 0, "empty list element: remove the extra comma"
		}
		rng, step, hasStep := strings.Cut(elem, "/")
		st := 1
		if hasStep {
			var err error
			st, err = strconv.Atoi(step)
			switch {
			case err != nil:
				return 0, fmt.Sprintf("step %q is not a number", step)
			case st < 1:
				return 0, "step must be at least 1"
			case st > max-b.min+1:
				return 0, fmt.Sprintf("step %d is larger than the field's range %d-%d", st, b.min, max)
			}
		}
		lo, hi := b.min, max
		if rng == "*" || rng == "?" {
			if b.hint == "sun-sat" {
				hi = 6
			}
		} else {
			loS, hiS, isRange := strings.Cut(rng, "-")
			if hasStep && !isRange {
				return 0, fmt.Sprintf("a step needs a range or *, as in cron: write %s-%d/%s or */%s", loS, max, step, step)
			}
			vals := []string{loS}
			if isRange {
				vals = append(vals, hiS)
			}
			var nums []int
			for k, v := range vals {
				if v == "" {
					return 0, "empty range end: write N-M"
				}
				x, err := strconv.Atoi(v)
				if err != nil {
					named, ok := b.names[strings.ToLower(v)]
					if !ok {
						if strings.ContainsAny(v, "LW#") && strings.Trim(v, "0123456789LW#") == "" {
							return 0, fmt.Sprintf("%q is not supported (no L, W or # syntax): use numbers, ranges and steps", v)
						}
						if whole(v) {
							return 0, fmt.Sprintf("not a number in %s", rangeText)
						}
						return 0, fmt.Sprintf("%q is not a number in %s", v, rangeText)
					}
					x = named
					if b.hint == "sun-sat" && x == 0 && k == 1 {
						x = 7 // fri-sun ends on Sunday
					}
				}
				if x < b.min || x > max {
					if whole(v) {
						return 0, fmt.Sprintf("value out of range %d-%d", b.min, max)
					}
					return 0, fmt.Sprintf("value %d out of range %d-%d", x, b.min, max)
				}
				nums = append(nums, x)
			}
			lo, hi = nums[0], nums[0]
			if isRange {
				hi = nums[1]
				if lo > hi {
					return 0, fmt.Sprintf("range %s runs backwards: write the smaller value first", rng)
				}
			}
		}
		for x := lo; x <= hi; x += st {
			if b.hint == "sun-sat" && x == 7 {
				x = 0
				bits |= 1
				break
			}
			bits |= 1 << uint(x)
		}
	}
	return bits, ""
}

// descriptorSpecs are the descriptors as six fields.
var descriptorSpecs = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

// newCronSpec builds the schedule of a validated five- or six-field spec
// or descriptor, read in loc.
func newCronSpec(spec string, loc *time.Location) (*cronSpec, error) {
	if d, ok := descriptorSpecs[spec]; ok {
		spec = d
	}
	f := strings.Fields(spec)
	if len(f) == 5 {
		f = append([]string{"0"}, f...)
	}
	if len(f) != 6 {
		return nil, fmt.Errorf("%d fields", len(f))
	}
	s := &cronSpec{loc: loc}
	for i, dst := range []*uint64{&s.second, &s.minute, &s.hour, &s.dom, &s.month, &s.dow} {
		bits, msg := parseField(f[i], fieldBounds[fieldNames6[i]])
		if msg != "" {
			return nil, fmt.Errorf("%s field %q: %s", fieldNames6[i], f[i], msg)
		}
		*dst = bits
	}
	star := func(x string) bool { return strings.HasPrefix(x, "*") || strings.HasPrefix(x, "?") }
	s.domStar, s.dowStar = star(f[3]), star(f[5])
	s.wildcard = star(f[1]) || star(f[2])
	return s, nil
}

// every is "@every D": the instants that are whole multiples of D since
// the Unix epoch (1970-01-01 00:00:00 UTC). It is robfig/cron's
// ConstantDelaySchedule, anchored: robfig counts from each scheduler's
// start, which under the tick ledger made every instance derive, claim and
// win a tick of its own; from the epoch, every scheduler of a fleet derives
// the same ticks, whenever it started. D is a whole number of seconds:
// @every 5m runs at :00, :05, ... of the hour; a D that does not divide a
// day (7m, 25h) drifts against the clock face, the same way on every
// instance.
type every struct{ cron.ConstantDelaySchedule }

func newEvery(d time.Duration) every { return every{cron.Every(d)} }

// Next returns the first multiple of the delay after t: robfig's next
// delay from the last multiple at or before t.
func (e every) Next(t time.Time) time.Time {
	s := int64(e.Delay / time.Second)
	if s <= 0 {
		return time.Time{} // Parse refuses intervals under a second
	}
	u := t.Unix() // whole seconds, rounded down
	m := u % s
	if m < 0 {
		m += s
	}
	return e.ConstantDelaySchedule.Next(time.Unix(u-m, 0)).UTC()
}
