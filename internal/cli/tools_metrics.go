//go:build metrics

package cli

import (
	"errors"
	"io"
	"time"

	"github.com/leadergate/leadergate/ledger"
)

// The metrics build is the scheduler daemon's (schedule --metrics-addr):
// client_golang and protobuf take it to the release size limit (16 MiB),
// so it leaves out the operator's tools that never run in the daemon, the
// picture (the page of history --html, 0.15 MB: with it, 16.11 MiB) and the
// simulator (its EC2 emulator, 0.2 MB), and says where they are.

// errNoPicture refuses history --html before any call to the ledger.
var errNoPicture error = usageError{errors.New("history --html: the metrics build leaves the picture out to stay under 16 MiB: run it with the default build (leadergate-linux-* of the release)")}

func drawTimeline(io.Writer, string, []ledger.Record, time.Time, time.Duration) error {
	return errNoPicture
}

func (c *simulateCmd) Run(*Deps) error {
	return usageError{errors.New("simulate: the metrics build leaves the simulator out to stay under 16 MiB: run it with the default build (leadergate-linux-* of the release), or go run . simulate")}
}
