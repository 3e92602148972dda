package cli

import (
	"io"
	"log/slog"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/notify"
	"github.com/leadergate/leadergate/schedule"
)

// observer builds the pings and failure hook of run --ping-url and
// --on-failure for the run of job at tick; nil when neither is given. wait
// returns once the pings and the hook are done (after the command, so never
// on its path).
func (c *runCmd) observer(job string, tick time.Time, log *slog.Logger) (obs gate.Observer, wait func(), err error) {
	if c.PingURL == "" && c.OnFailure == "" {
		return nil, func() {}, nil
	}
	j := schedule.Job{Name: job, OnFailure: c.OnFailure, Shell: "/bin/sh"}
	if c.PingURL != "" {
		var p schedule.Job
		if err := schedule.SetDirective(&p, "ping", c.PingURL); err != nil {
			return nil, nil, usageError{err}
		}
		j.Ping = p.Ping
	}
	n := notify.New(notify.Config{HookTimeout: c.HookTimeout, Logger: log})
	o := &runObserver{n: n, info: schedule.RunInfo{Job: j, Tick: tick, Attempt: 1}}
	return o, func() { n.Wait(c.HookTimeout + 20*time.Second) }, nil
}

// runObserver turns gate's start and end into the notifier's hooks.
type runObserver struct {
	n    *notify.Notifier
	info schedule.RunInfo
	tail gate.TailBuffer
}

// Started takes the run's id from the gate: under the ledger, the claim's,
// as the command sees it in LEADERGATE_RUN_ID.
func (o *runObserver) Started(run gate.RunEnv) {
	o.info.ID = run.RunID
	if run.Fence > 0 {
		o.info.Fence = run.Fence
	}
	o.n.Started(o.info)
}

func (o *runObserver) Output() io.Writer { return &o.tail }

// Lost reports the tick's previous run, found lost with its instance here,
// as the failed run nobody else will report: the instance that ran it died.
func (o *runObserver) Lost(l gate.LostRun) {
	r := o.info
	r.ID, r.Attempt = l.RunID, l.Attempt
	o.n.LostRun(r)
}

func (o *runObserver) Finished(code int, dur time.Duration) {
	res := schedule.Result{Outcome: schedule.Succeeded, Code: code, Duration: dur, Tail: o.tail.Bytes()}
	if code != 0 {
		res.Outcome = schedule.Failed
	}
	o.n.Finished(o.info, res)
}
