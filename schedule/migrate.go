package schedule

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Lookups are what the migration warnings ask of the system; tests pass
// their own.
type Lookups struct {
	// UserExists reports whether name is in the user database.
	UserExists func(name string) bool
	// OnPath reports whether cmd is an executable file in one of the
	// directories of path (a PATH value).
	OnPath func(cmd, path string) bool
	// Path is the PATH jobs inherit when the crontab sets none: the
	// scheduler's own.
	Path string
}

// SystemLookups asks the system's user database and file system.
func SystemLookups() Lookups {
	return Lookups{
		UserExists: func(name string) bool { _, err := user.Lookup(name); return err == nil },
		OnPath:     onPath,
		Path:       os.Getenv("PATH"),
	}
}

func onPath(cmd, path string) bool {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		fi, err := os.Stat(filepath.Join(dir, cmd))
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return true
		}
	}
	return false
}

var legacyPrefix = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(test|\[)\s+-[ef]\s+\S*leader-manager-is-leader\s*\]?\s*&&\s*`)
})

// shellWords are builtins and keywords a command may start with: not
// looked up on PATH.
var shellWords = map[string]bool{
	"cd": true, "test": true, "[": true, "[[": true, "if": true, "for": true, "while": true, "until": true,
	"case": true, "exec": true, "export": true, "source": true, ".": true, ":": true, "true": true,
	"false": true, "echo": true, "printf": true, "set": true, "unset": true, "eval": true, "umask": true,
	"ulimit": true, "time": true, "command": true, "builtin": true, "trap": true, "read": true, "wait": true,
	"!": true, "{": true, "(": true, "exit": true, "shift": true, "type": true, "hash": true, "let": true,
}

// MigrationWarnings reports job lines that look pasted from a system
// crontab and not yet migrated: a first word that is a user name (the
// /etc/cron.d user column), a first word not found on the jobs' PATH, the
// legacy "test -e .../leader-manager-is-leader &&" prefix, and a nested
// "leadergate run --" or "leadergate check &&", which asks again what the
// scheduler decided.
func MigrationWarnings(c *Crontab, l Lookups) []LineError {
	var out []LineError
	for _, j := range c.Jobs {
		warn := func(value, format string, args ...any) {
			out = append(out, LineError{File: j.File, Line: j.Line, Field: "command", Value: value, Msg: fmt.Sprintf(format, args...)})
		}
		if m := legacyPrefix().FindString(j.Command); m != "" {
			warn(strings.TrimSpace(m), "the leader-manager prefix is not needed: the scheduler runs this job on the leader only%s; remove it",
				map[bool]string{true: " (and [all] jobs everywhere)", false: ""}[j.EveryInstance])
			continue
		}
		if prefix, sub := nestedLeadergate(j.Command); prefix != "" {
			switch {
			case j.EveryInstance:
				warn(prefix, "an [all] job runs on every instance, and a nested leadergate %s makes the scheduler's decision again by another rule: to run it on the leader only, remove [all] and this prefix", sub)
			case sub == "run":
				warn(prefix, "the scheduler already decided this tick is this instance's: a nested leadergate run only asks again, and with --ledger it can find the tick taken, by the scheduler itself, and exit 0 without running the command: remove the prefix")
			default:
				warn(prefix, "the scheduler already decided this tick is this instance's: a nested leadergate check only asks again: remove it")
			}
			continue
		}
		words := strings.Fields(j.Command)
		for len(words) > 0 && envLine().MatchString(words[0]) && !strings.HasPrefix(words[0], "=") {
			words = words[1:] // VAR=value cmd
		}
		if len(words) == 0 {
			continue
		}
		first := words[0]
		if shellWords[first] || strings.ContainsAny(first, "/$`'\"(){}<>|;&*?~\\") {
			continue
		}
		if l.UserExists != nil && l.UserExists(first) {
			warn(first, "%q is a user name: is this the user column of a /etc/cron.d line? leadergate runs every job as its own user: remove it", first)
			continue
		}
		path := l.Path
		for _, kv := range j.Env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = v
			}
		}
		if l.OnPath != nil && !l.OnPath(first, path) {
			warn(first, "%q is not found on the jobs' PATH (%s): set PATH= above the job, or write the command's full path", first, path)
		}
	}
	return out
}

// shellSeparators split a command line into its simple commands, roughly:
// quotes are not looked at.
var shellSeparators = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`&&|\|\||[;|&]`) })

// nestedLeadergate finds, among the simple commands of a job's command
// line ("cd /var/app/current && leadergate run -- ./bin/x"), one that runs
// leadergate's run or check: it returns the leadergate words (up to "--"
// for run) and the subcommand, or "".
func nestedLeadergate(command string) (prefix, sub string) {
	for _, part := range shellSeparators().Split(command, -1) {
		words := strings.Fields(part)
		for len(words) > 0 && (envLine().MatchString(words[0]) || words[0] == "exec" || words[0] == "env" || words[0] == "command") {
			words = words[1:]
		}
		if len(words) == 0 || filepath.Base(words[0]) != "leadergate" {
			continue
		}
		for i, w := range words[1:] {
			if w == "--" {
				break
			}
			if w != "run" && w != "check" {
				continue
			}
			end := len(words)
			if k := slices.Index(words, "--"); k > 0 {
				end = k + 1
			}
			if w == "check" {
				end = i + 2
			}
			return strings.Join(words[:end], " "), w
		}
	}
	return "", ""
}
