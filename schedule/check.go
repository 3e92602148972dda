package schedule

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Check writes what --check shows: each job with its place in the file,
// schedule, time zone, command, the environment the file gives it, its
// directives and next 3 run times after now. For @every jobs the times
// assume the scheduler starts at now. The crontab's warnings go to warn,
// one "leadergate: warning: file:line: ..." line each.
func Check(w, warn io.Writer, c *Crontab, now time.Time) error {
	for _, l := range c.Warnings {
		fmt.Fprintf(warn, "leadergate: warning: %s\n", l.Error())
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
		name := " " + j.Name
		if j.Name == fmt.Sprintf("%s:%d", filepath.Base(j.File), j.Line) {
			name = "" // the default name says nothing more
		}
		fmt.Fprintf(bw, "%s:%d%s (%s)\n", j.File, j.Line, name, who)
		zone := "time zone " + j.TZ.String()
		if _, every := j.Schedule.(cron.ConstantDelaySchedule); every {
			zone = "from the scheduler's start"
		}
		fmt.Fprintf(bw, "  schedule  %s (%s)\n", j.Spec, zone)
		fmt.Fprintf(bw, "  command   %s\n", j.Command)
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
		next := make([]string, 0, 3)
		t := now
		for k := 0; k < 3; k++ {
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
	return bw.Flush()
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
