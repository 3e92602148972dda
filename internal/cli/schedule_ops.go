package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/notify"
	"github.com/leadergate/leadergate/internal/sdnotify"
	"github.com/leadergate/leadergate/schedule"
)

// opsFlags are schedule's flags for metrics, health and alerts.
type opsFlags struct {
	MetricsAddr string        `env:"LEADERGATE_METRICS_ADDR" placeholder:"HOST:PORT" help:"Serve Prometheus metrics on /metrics and the loop's health on /healthz, e.g. 127.0.0.1:9746 (the metrics build only: leadergate-metrics-linux-*)."`
	OnFailure   string        `env:"LEADERGATE_ON_FAILURE" placeholder:"COMMAND" help:"Shell command run after a failed run of a job without its own # on-failure: (LEADERGATE_JOB, _SCHEDULED_AT, _EXIT_CODE, _OUTPUT_TAIL, _OUTPUT_FILE in its environment)."`
	HookTimeout time.Duration `env:"LEADERGATE_HOOK_TIMEOUT" default:"1m" help:"Stop a failure hook after this long."`
}

// heartbeat is how often the loop goes round for /healthz without a
// watchdog; /healthz turns 503 after three silent heartbeats.
const heartbeat = 10 * time.Second

// notifyWait is how long a stopping scheduler waits for pings and failure
// hooks still going.
const notifyWait = 5 * time.Second

// withOps wires metrics, /healthz and systemd's notifications into opts.
// done is called once schedule.Run has returned.
func (f *opsFlags) withOps(ctx context.Context, log *slog.Logger, opts *schedule.Options) (done func(), err error) {
	n := notify.New(notify.Config{OnFailure: f.OnFailure, HookTimeout: f.HookTimeout, Logger: log})
	hooks := schedule.MultiHooks{n}
	closers := []func(){func() { n.Wait(notifyWait) }}
	if n := sdnotify.New(log); n != nil {
		hooks = append(hooks, n)
		opts.Heartbeat = n.Heartbeat()
		closers = append(closers, n.Stopping)
	}
	if f.MetricsAddr != "" {
		if opts.Heartbeat <= 0 || opts.Heartbeat > heartbeat {
			opts.Heartbeat = heartbeat
		}
		h, stop, err := serveMetrics(f.MetricsAddr, 3*opts.Heartbeat, log)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, h)
		closers = append(closers, stop)
	}
	if opts.Hooks != nil {
		hooks = append(hooks, opts.Hooks)
	}
	opts.Hooks = hooks
	return func() {
		for _, c := range closers {
			c()
		}
	}, nil
}

// configError is a setting that no retry fixes: exit 78, so systemd shows
// the unit failed.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }
func (configError) ExitCode() int   { return exitcode.Config }
