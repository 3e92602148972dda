package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/lifecycle"
	"github.com/leadergate/leadergate/schedule"
	"golang.org/x/sys/unix"
)

type scheduleCmd struct {
	File         string        `arg:"" default:"leader-jobs.cron" env:"LEADERGATE_FILE" help:"Crontab-style file of leader-only jobs."`
	Check        bool          `env:"LEADERGATE_CHECK" help:"Validate the file and print each job's next 3 runs; exit 0, or 65 listing every bad line."`
	From         string        `env:"LEADERGATE_FROM" placeholder:"TIME" help:"With --check: list the runs after this time (RFC 3339, e.g. 2026-10-25T00:00:00+02:00) instead of now."`
	Count        int           `env:"LEADERGATE_COUNT" default:"3" help:"With --check: how many next runs to list per job."`
	Strict       bool          `env:"LEADERGATE_STRICT" help:"With --check: exit 65 when there are warnings, too."`
	RunNow       string        `name:"run-now" env:"LEADERGATE_RUN_NOW" placeholder:"JOB" help:"Run the job named JOB once now, as the scheduler would (same environment, shell, logging; election unless --assume), and exit with its code."`
	Refresh      time.Duration `env:"LEADERGATE_REFRESH" default:"1m" help:"Re-check leadership this often between runs, keeping tag and marker current."`
	Grace        time.Duration `env:"LEADERGATE_GRACE" default:"30s" help:"On SIGTERM, time running jobs get before SIGKILL."`
	AllowOverlap bool          `env:"LEADERGATE_ALLOW_OVERLAP" help:"Start a job even while its previous run is still going."`
	LogFormat    string        `env:"LEADERGATE_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`
	Namespace    string        `env:"LEADERGATE_NAMESPACE" placeholder:"NS" help:"Name every job NS/name (logs, metrics, the ledger): for a second scheduler of the same group, e.g. Elastic Beanstalk's root crontab, so that a job named alike in both crontabs is two jobs."`
	LogFile      string        `env:"LEADERGATE_LOG_FILE" placeholder:"FILE" help:"Append the log to FILE instead of stderr: for systemd older than 240 (Amazon Linux 2), which ignores StandardOutput=append:. Rotate it with logrotate's copytruncate."`
	Dir          string        `env:"LEADERGATE_DIR" placeholder:"DIR" help:"Start jobs in this directory, looked up by its path at each start (default: the directory the scheduler was started in, by path)."`
	Preflight    bool          `env:"LEADERGATE_PREFLIGHT" help:"Check what a start needs (the file, the election's configuration, with --ledger the table, its keys and the permissions) and exit: 0, or 78 naming the fix. Temporary failures (75) do not fail it."`
	lifecycleFlags
	opsFlags
	emfFlags
	scheduleLedgerFlags
}

func (c *scheduleCmd) Run(g *Globals, d *Deps) error {
	if c.Check {
		return c.check(g, d)
	}
	if err := positive("--grace", c.Grace, "running jobs need some time between SIGTERM and SIGKILL: give e.g. --grace 1s"); err != nil {
		return err
	}
	if strings.ContainsAny(c.Namespace, "#/ \t") {
		return usageError{fmt.Errorf("--namespace %q: a namespace has no '#', '/' or spaces; e.g. root", c.Namespace)}
	}
	if err := positive("--refresh", c.Refresh, "the background leadership check needs a period: give e.g. --refresh 1m"); err != nil {
		return err
	}
	// A crontab that cannot be read or parsed is the one thing to say (78,
	// 65): before the election, the ledger and the lifecycle watchers,
	// whose warnings about an unreachable AWS would bury it.
	if _, err := schedule.ParseFile(c.File); err != nil {
		return err
	}
	logTo := d.Stderr
	if c.LogFile != "" {
		// O_APPEND: logrotate's copytruncate empties the file under it,
		// and every line still lands at its end.
		f, err := os.OpenFile(c.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return configError{fmt.Errorf("--log-file: %w; create it writable by this user, or fix the path", err)}
		}
		defer f.Close()
		logTo = f
	}
	log := newLogger(logTo, g.Verbose, c.LogFormat)
	auth, err := g.authority(d, log)
	if err != nil {
		return err
	}
	ctx, stop := stopSignals()
	defer stop()
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Stop(reload)
	opts := schedule.Options{
		File:         c.File,
		Authority:    auth,
		Logger:       log,
		Refresh:      c.Refresh,
		Grace:        c.Grace,
		AllowOverlap: c.AllowOverlap,
		Reload:       reload,
		Clock:        d.Clock,
		Dir:          c.Dir,
		Namespace:    c.Namespace,
	}
	if c.RunNow != "" {
		code, err := schedule.RunNow(ctx, opts, c.RunNow)
		if err != nil {
			return err
		}
		return exitStatus(code)
	}
	// A configuration error (78) stops the scheduler at start, before the
	// lifecycle watchers start (they would drain an instance that never
	// ran). schedule.Run makes the same check for other callers; a good
	// verdict made here is cached for it.
	if _, err := auth.MayRun(ctx, gate.Job{Name: "(start)", Tick: d.Now()}); err != nil && exitcode.Of(err) == exitcode.Config {
		return err
	}
	if err := c.withLedger(g, d, log, &opts); err != nil {
		return err
	}
	if c.Preflight {
		return nil
	}
	if err := c.withEMF(g, d, log, logTo, &opts); err != nil {
		return err
	}
	// Run also returns on its own when its start fails: the watchers
	// must then stop too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opsDone, err := c.withOps(ctx, log, &opts)
	if err != nil {
		return err
	}
	wait := c.withLifecycle(ctx, g, d, auth, log, &opts)
	err = schedule.Run(ctx, opts)
	cancel()
	opsDone()
	wait()
	return err
}

func (c *scheduleCmd) check(g *Globals, d *Deps) error {
	from := d.Now()
	if c.From != "" {
		t, err := time.Parse(time.RFC3339, c.From)
		if err != nil {
			return usageError{fmt.Errorf("--from %q: not an RFC 3339 time: write e.g. 2026-10-25T00:00:00+02:00 or 2026-10-25T00:00:00Z", c.From)}
		}
		from = t
	}
	if c.Count < 1 || c.Count > 1000 {
		return usageError{fmt.Errorf("--count %d: give 1 to 1000 runs", c.Count)}
	}
	tab, err := schedule.CheckFile(c.File)
	if err != nil {
		return err
	}
	n, err := schedule.Check(d.Stdout, d.Stderr, tab, schedule.CheckOptions{From: from, Count: c.Count, Lookups: schedule.SystemLookups(), Ledger: g.Ledger != ""})
	if err != nil {
		return err
	}
	if c.Strict && n > 0 {
		return strictError{n}
	}
	return nil
}

// strictError is --check --strict failing on warnings: exit 65, as a bad
// crontab.
type strictError struct{ n int }

func (e strictError) Error() string {
	if e.n == 1 {
		return "1 warning, and --strict makes warnings errors"
	}
	return fmt.Sprintf("%d warnings, and --strict makes warnings errors", e.n)
}
func (strictError) ExitCode() int { return exitcode.Crontab }

// stopSignals is a context cancelled by SIGTERM or SIGINT, with a
// lifecycle.Stop cause naming the signal: SIGTERM (systemd stopping the
// service, a deploy's restart) drains the instance; SIGINT (an operator's
// Ctrl-C) does not.
func stopSignals() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(lifecycle.Stop{Reason: unix.SignalName(s.(syscall.Signal)), Drain: s == syscall.SIGTERM})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}
