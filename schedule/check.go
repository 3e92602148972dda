package schedule

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/leadergate/leadergate/internal/voice"
)

// CheckOptions are the settings of [Check].
type CheckOptions struct {
	// From is the time after which the next runs are listed, and from
	// which daylight-saving changes are looked for (a year ahead).
	From  time.Time
	Count int // next runs listed per job; 0 means 3
	// Lookups answer the migration warnings; zero: none are made.
	Lookups Lookups
	// Ledger says the scheduler will run with the tick ledger (--ledger,
	// LEADERGATE_LEDGER): an unnamed leader-only job is then a warning.
	Ledger bool
}

// Check writes what --check shows: each job with its place in the file,
// name (and whether it is derived, see [DerivedName]), schedule, time
// zone, command, the environment the file gives it, its
// directives and next runs after o.From. The crontab's warnings, and those of
// [DSTWarnings] and, with o.Ledger, of [UnnamedWarnings], go to warn, one "leadergate: warning: file:line: ..."
// line each; Check returns how many it wrote.
func Check(w, warn io.Writer, c *Crontab, o CheckOptions) (warnings int, err error) {
	if o.Count <= 0 {
		o.Count = 3
	}
	now := o.From
	all := append(append([]LineError(nil), c.Warnings...), MigrationWarnings(c, o.Lookups)...)
	all = append(all, DSTWarnings(c, now)...)
	if o.Ledger {
		all = append(all, UnnamedWarnings(c)...)
	}
	for _, l := range all {
		voice.Say(warn, voice.Warning, fmt.Sprintf("%s", l.Error()))
	}
	bw := bufio.NewWriter(w)
	for i, j := range c.Jobs {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		who := "leader only"
		if j.EveryInstance {
			who = "every instance"
		}
		if !j.Named {
			who += ", unnamed"
		}
		fmt.Fprintf(bw, "%s:%d %s (%s)\n", j.File, j.Line, j.Name, who)
		zone := "time zone " + j.TZ.String()
		if _, ok := j.Schedule.(every); ok {
			zone = "counted from 1970-01-01 00:00:00 UTC, the same ticks on every instance"
		}
		fmt.Fprintf(bw, "  schedule  %s (%s)\n", j.Spec, zone)
		fmt.Fprintf(bw, "  command   %s\n", j.Command)
		if !j.Named {
			fmt.Fprintf(bw, "  identity  from its schedule, zone and command: editing one makes it a new job (metrics, history, ledger key); add # name: above it to keep it\n")
		}
		for k, kv := range j.Env {
			label := "env"
			if k > 0 {
				label = ""
			}
			fmt.Fprintf(bw, "  %-9s %s\n", label, showEnv(kv))
		}
		if note := dayRuleNote(j.Spec); note != "" {
			fmt.Fprintf(bw, "  note      %s\n", note)
		}
		if j.Timeout > 0 {
			fmt.Fprintf(bw, "  timeout   %s\n", j.Timeout)
		}
		next := make([]string, 0, o.Count)
		t := now
		for k := 0; k < o.Count; k++ {
			t = j.Next(t)
			if t.IsZero() {
				break
			}
			next = append(next, t.In(j.TZ).Format(time.RFC3339))
		}
		fmt.Fprintf(bw, "  next      %s\n", strings.Join(next, ", "))
	}
	switch len(c.Jobs) {
	case 0:
		fmt.Fprintf(bw, "%s: no jobs\n", c.File)
	case 1:
		fmt.Fprintf(bw, "\n%s: 1 job, ok\n", c.File)
	default:
		fmt.Fprintf(bw, "\n%s: %d jobs, ok\n", c.File, len(c.Jobs))
	}
	return len(all), bw.Flush()
}

// DSTWarnings reports the fixed-time jobs with a run time that falls into
// a skipped or repeated interval of their zone within a year after from,
// and what the scheduler does then.
func DSTWarnings(c *Crontab, from time.Time) []LineError {
	var out []LineError
	for _, j := range c.Jobs {
		s, ok := j.Schedule.(*cronSpec)
		if !ok || s.wildcard || s.loc == nil {
			continue
		}
		loc := s.loc
		end := from.AddDate(1, 0, 0)
		for t := from; t.Before(end); {
			_, change := t.In(loc).ZoneBounds()
			if change.IsZero() || !change.Before(end) {
				break
			}
			before := change.Add(-time.Second)
			_, o1 := before.In(loc).Zone()
			_, o2 := change.In(loc).Zone()
			delta := time.Duration(o2-o1) * time.Second
			var lo, hi time.Time // the wall-clock interval skipped or repeated
			if delta > 0 {
				lo = wallOf(change, loc).Add(-delta)
				hi = wallOf(change, loc)
			} else {
				lo = wallOf(change, loc)
				hi = lo.Add(-delta)
			}
			if w := s.nextWall(lo, hi); !w.IsZero() {
				at := w.Format("2006-01-02 15:04")
				clock := fmt.Sprintf("%s-%s", lo.Format("15:04"), hi.Format("15:04"))
				msg := fmt.Sprintf("%s does not exist in %s (clocks skip %s): the job runs at %s, right after the change, as cron does",
					at, loc, clock, change.In(loc).Format(time.RFC3339))
				if delta < 0 {
					msg = fmt.Sprintf("%s occurs twice in %s (clocks repeat %s): the job runs once, at the first (%s), as cron does",
						at, loc, clock, instantOf(w, o1).In(loc).Format(time.RFC3339))
				}
				out = append(out, LineError{File: j.File, Line: j.Line, Field: "schedule", Value: j.Spec, Msg: msg})
			}
			t = change
		}
	}
	return out
}

// showEnv prints NAME=value as the job gets it; a value that is empty or
// has blanks at its ends is shown quoted (Go syntax), so none is invisible.
func showEnv(kv string) string {
	k, v, _ := strings.Cut(kv, "=")
	if v == "" || strings.TrimSpace(v) != v || !strconv.IsPrint(firstNonPrint(v)) {
		return k + "=" + strconv.Quote(v)
	}
	return kv
}

// firstNonPrint returns the first rune of s that strconv.IsPrint refuses,
// or 'x' when all print.
func firstNonPrint(s string) rune {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return r
		}
	}
	return 'x'
}

// dayRuleNote says how a schedule whose day field starts with '*' but has
// a step (*/2) is read when the other day field is restricted: as in cron,
// the field counts as unrestricted, so both must match (robfig/cron and
// some other schedulers would take either).
func dayRuleNote(spec string) string {
	f := strings.Fields(spec)
	if len(f) < 5 {
		return ""
	}
	dom, dow := f[len(f)-3], f[len(f)-1]
	stepped := func(x string) bool { return strings.HasPrefix(x, "*/") || strings.HasPrefix(x, "?/") }
	restricted := func(x string) bool { return !strings.HasPrefix(x, "*") && !strings.HasPrefix(x, "?") }
	switch {
	case stepped(dom) && restricted(dow):
		return fmt.Sprintf("day-of-month %s starts with *, so as in cron both day fields must match: days %s that are also day-of-week %s", dom, dom, dow)
	case stepped(dow) && restricted(dom):
		return fmt.Sprintf("day-of-week %s starts with *, so as in cron both day fields must match: day-of-month %s only when it is also day-of-week %s", dow, dom, dow)
	}
	return ""
}

// UnnamedWarnings reports the leader-only jobs without "# name:", for a
// scheduler with the tick ledger: the ledger keys ticks by name, and a
// derived name changes with any edit of the job, so while a rolling
// deploy runs the old and the new crontab side by side, the edited job's
// tick is claimed under two keys and runs twice.
func UnnamedWarnings(c *Crontab) []LineError {
	var out []LineError
	for _, j := range c.Jobs {
		if j.Named || j.EveryInstance {
			continue
		}
		out = append(out, LineError{File: j.File, Line: j.Line, Field: "job", Value: j.Name, Msg: "unnamed, under the tick ledger: " +
			"its identity (the ledger's key) comes from its schedule, zone and command, so editing one makes it a new job " +
			"and, while old and new crontabs run side by side in a deploy, its tick can run twice: add # name: NAME above it"})
	}
	return out
}
