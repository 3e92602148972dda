package schedule

// Environment lines: NAME=value, with quotes, trailing comments, SHELL=
// and CRON_TZ=.

import (
	"fmt"
	"os"
	"strings"
	"time"
)

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
