//go:build !metrics

package main

import (
	"errors"
	"log/slog"
	"time"

	"github.com/leadergate/leadergate/schedule"
)

// serveMetrics: client_golang (with protobuf) adds 2.6 MB, which takes the
// release binary over its 16 MiB limit, so metrics are built in only with
// -tags metrics (see docs/operations.md).
func serveMetrics(string, time.Duration, *slog.Logger) (schedule.Hooks, func(), error) {
	return nil, nil, configError{errors.New("--metrics-addr: this binary was built without metrics: use a release binary, or build with go build -tags metrics -gcflags=all=-l (make dist does)")}
}
