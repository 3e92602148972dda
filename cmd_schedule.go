package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/schedule"
)

type scheduleCmd struct {
	File         string        `arg:"" default:"leader-jobs.cron" env:"LEADERGATE_FILE" help:"Crontab-style file of leader-only jobs."`
	Check        bool          `env:"LEADERGATE_CHECK" help:"Validate the file and print each job's next 3 runs; exit 0, or 65 listing every bad line."`
	Refresh      time.Duration `env:"LEADERGATE_REFRESH" default:"1m" help:"Re-check leadership this often between runs, keeping tag and marker current."`
	Grace        time.Duration `env:"LEADERGATE_GRACE" default:"30s" help:"On SIGTERM, time running jobs get before SIGKILL."`
	AllowOverlap bool          `env:"LEADERGATE_ALLOW_OVERLAP" help:"Start a job even while its previous run is still going."`
	LogFormat    string        `env:"LEADERGATE_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`
	lifecycleFlags
}

func (c *scheduleCmd) Run(g *Globals, d *Deps) error {
	if c.Check {
		tab, err := schedule.CheckFile(c.File)
		if err != nil {
			return err
		}
		return schedule.Check(d.Stdout, d.Stderr, tab, d.Now())
	}
	log := newLogger(d.Stderr, g.Verbose, c.LogFormat)
	auth, err := g.authority(d, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
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
	}
	wait := c.withLifecycle(ctx, g, auth, log, &opts)
	err = schedule.Run(ctx, opts)
	wait()
	return err
}
