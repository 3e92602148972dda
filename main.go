// Command leadergate runs scheduled jobs on exactly one instance of a group
// of identical EC2 instances. See README.md.
//
// This file only wires: it builds what every command shares once and hands
// it to the command line, package internal/cli.
package main

import (
	"os"
	// The time zone database, for CRON_TZ= on hosts without one (minimal
	// containers): about 450 kB.
	_ "time/tzdata"

	"github.com/leadergate/leadergate/internal/cli"
	"github.com/leadergate/leadergate/internal/clock"
)

// Set by the linker: -X main.version=... -X main.commit=...
var version, commit string

func main() {
	os.Exit(cli.Main(os.Args[1:], &cli.Deps{
		Stdout: os.Stdout, Stderr: os.Stderr, Clock: clock.Real{},
		Version: version, Commit: commit,
	}))
}
