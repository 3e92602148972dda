package schedule

// A job's identity: the name the ledger keys its ticks by, metrics label
// its series with, logs and LEADERGATE_JOB show.

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DerivedName is the name of a job without "# name:": the first words of
// its command, for people, then the first 8 hex digits of a SHA-256 of
// what makes it the same job: the schedule (as normalised in Job.Spec),
// the zone given by CRON_TZ (none: the local zone) and the command as
// written. So "0 3 * * * /usr/bin/php app/console billing:run" is
// "php-console-5a284a47" wherever its line sits in the file: lines
// added or removed above it do not make it another job (they did while
// the name was file:line). Editing its schedule, zone or command does:
// that is a new name, so a new ledger key, metrics series and overlap
// guard. A "# name:" keeps the identity through such edits.
func DerivedName(spec string, tz *time.Location, command string) string {
	zone := ""
	if tz != nil && tz != time.Local {
		zone = tz.String()
	}
	sum := sha256.Sum256([]byte(spec + "\x00" + zone + "\x00" + command))
	return readablePart(command) + "-" + hex.EncodeToString(sum[:4])
}

// readablePart is the command's first two words (after VAR=value
// assignments, without their directories), reduced to letters, digits,
// '.' and '_' joined by '-', at most 24 characters (cut at a word's end);
// "job" when nothing is left.
func readablePart(command string) string {
	const maxLen = 24
	words := strings.Fields(command)
	for len(words) > 1 && envLine().MatchString(words[0]) {
		words = words[1:]
	}
	var b strings.Builder
	for _, w := range words[:min(2, len(words))] {
		w = path.Base(w)
		part := strings.Join(strings.FieldsFunc(w, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_')
		}), "-")
		part = strings.Trim(part, "._")
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			if b.Len()+1+len(part) > maxLen {
				break
			}
			b.WriteByte('-')
		}
		b.WriteString(part)
	}
	s := b.String()
	if len(s) > maxLen {
		s = s[:maxLen]
		if i := strings.LastIndexAny(s, "-._"); i > 0 {
			s = s[:i] // at a word's end
		}
	}
	if s == "" {
		return "job"
	}
	return s
}

// isLineName reports whether s is j's place in its file: FILE:LINE as
// --check prints it, or with the file's base name, which was the name of
// a job without "# name:" before DerivedName. --run-now accepts both.
func isLineName(j Job, s string) bool {
	line := ":" + strconv.Itoa(j.Line)
	return s == j.File+line || s == filepath.Base(j.File)+line
}
