package schedule

// Directives: the "# key: value" comments that set properties of the job
// line below them.

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

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

// SetDirective sets the field of j that the "# key: value" directive
// sets, or says what is wrong with value; flags that mirror a directive
// (run --ping-url) check their value with it.
func SetDirective(j *Job, key, value string) error {
	set, ok := directives[key]
	if !ok {
		return errors.New("unknown directive " + key)
	}
	if err := set(j, value); err != nil {
		return errors.New("--" + map[string]string{"ping": "ping-url"}[key] + " " + value + ": " + err.Error())
	}
	return nil
}
