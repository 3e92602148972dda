//go:build !metrics

package cli

import (
	"errors"
	"log/slog"
	"time"

	"github.com/leadergate/leadergate/schedule"
)

// withMetrics: the default build has no metrics. client_golang's package
// init costs every process about 4.5 ms before main, which every cron line
// would pay (docs/performance.md), so metrics are built in only with
// -tags metrics: the leadergate-metrics-linux-* release binaries.
const withMetrics = false

func serveMetrics(string, time.Duration, *slog.Logger) (schedule.Hooks, func(), error) {
	return nil, nil, configError{errors.New("--metrics-addr: this binary was built without metrics: install the metrics build (leadergate-metrics-linux-* of the release), or build with go build -tags metrics")}
}
