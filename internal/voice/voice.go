// Package voice is leadergate's one voice on stderr, for one-shot commands
// (check, run, elect, status, schedule --check, the ledger's commands),
// lower case, one prefix on every line:
//
//	leadergate: error: PROBLEM; FIX
//	leadergate: warning: …
//	leadergate: …            (-v: why, step by step; dry runs)
//
// An error is one line that names the problem and, where one is known, the
// fix after "; ": cron mails and journald show the first line, so the fix
// is never on a line of its own. The scheduler is a daemon and logs with
// log/slog instead. Every package that speaks to a person on stderr goes
// through [Say], so the prefix is written in one place.
package voice

import (
	"io"
	"strings"
)

// Kinds of line, by what follows "leadergate: ".
const (
	Error   = "error"
	Warning = "warning"
	Info    = "" // a -v line, a dry run's answer, a note
)

// Say writes msg on w in the CLI voice, prefixing every one of its lines
// with "leadergate: " and the kind.
func Say(w io.Writer, kind, msg string) {
	prefix := "leadergate: "
	if kind != "" {
		prefix += kind + ": "
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	io.WriteString(w, b.String()) // one write: lines of concurrent writers do not interleave
}
