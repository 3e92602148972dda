//go:build metrics

package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/leadergate/leadergate/internal/metrics"
	"github.com/leadergate/leadergate/schedule"
)

// withMetrics: this is the metrics build (leadergate-metrics-linux-*);
// leadergate version says so.
const withMetrics = true

// serveMetrics serves /metrics and /healthz on addr; stop makes /healthz
// answer 503 and closes the server.
func serveMetrics(addr string, stale time.Duration, log *slog.Logger) (h schedule.Hooks, stop func(), err error) {
	m := metrics.New(time.Now, stale)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, configError{fmt.Errorf("--metrics-addr %s: %w", addr, err)}
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", addr, "error", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return m, func() {
		m.Stopped()
		_ = srv.Close()
	}, nil
}
