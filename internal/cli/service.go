package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/notify"
	"github.com/leadergate/leadergate/ledger"
	"github.com/leadergate/leadergate/lifecycle"
	"github.com/leadergate/leadergate/schedule"
)

// maxClockSkew is how far apart the instances' clocks may be: a holder that
// cannot renew stops its command this long (plus its grace) before its
// lease ends by its own clock. Amazon Time Sync keeps EC2 clocks within a
// millisecond; 2 s leaves room for an instance whose NTP is off.
const maxClockSkew = 2 * time.Second

// serviceCmd keeps one long-lived command running on exactly one instance.
type serviceCmd struct {
	Name             string        `env:"LEADERGATE_NAME" placeholder:"NAME" help:"The service's name in the ledger (default: the command line)."`
	Lease            time.Duration `env:"LEADERGATE_LEASE" default:"60s" placeholder:"D" help:"With --ledger: the holder's lease, renewed every third of it; after a holder dies, the next starts when it has run out."`
	TakeoverAfter    time.Duration `env:"LEADERGATE_TAKEOVER_AFTER" default:"15s" placeholder:"D" help:"With --ledger: when nobody has ever held the lease, a follower takes it this long after it starts: the leader goes first."`
	Grace            time.Duration `env:"LEADERGATE_GRACE" default:"10s" placeholder:"D" help:"Between SIGTERM and SIGKILL when the command must stop."`
	Poll             time.Duration `env:"LEADERGATE_POLL" default:"1s" placeholder:"D" help:"How often an instance that does not run the command checks whether it should (with --ledger: one GetItem)."`
	IMDSPoll         time.Duration `name:"imds-poll" env:"LEADERGATE_IMDS_POLL" default:"5s" help:"Poll IMDS this often for Spot and Auto Scaling notices, and hand over on one; 0s turns it off."`
	DrainOnRebalance bool          `env:"LEADERGATE_DRAIN_ON_REBALANCE" help:"Also hand over on a Spot rebalance recommendation."`
	LogFormat        string        `env:"LEADERGATE_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`
	PingURL          string        `env:"LEADERGATE_PING_URL" placeholder:"URL" help:"Ping URL/start at each start of the command, URL/<exit code> with the output's tail when it exits on its own (healthchecks.io protocol)."`
	OnFailure        string        `env:"LEADERGATE_ON_FAILURE" placeholder:"COMMAND" help:"Shell command run when the command exits on its own with a failure (LEADERGATE_JOB, _EXIT_CODE, _OUTPUT_TAIL ... in its environment)."`
	HookTimeout      time.Duration `env:"LEADERGATE_HOOK_TIMEOUT" default:"1m" help:"Stop the --on-failure command after this long."`
	Command          []string      `arg:"" optional:"" passthrough:"" placeholder:"-- CMD ARGS" help:"The command, run directly (never through a shell)."`
}

func (c *serviceCmd) Run(g *Globals, d *Deps) error {
	argv, err := commandArgs("service", c.Command)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		flag string
		d    time.Duration
	}{{"--lease", c.Lease}, {"--takeover-after", c.TakeoverAfter}, {"--grace", c.Grace}, {"--poll", c.Poll}} {
		if err := positive(p.flag, p.d, "give a positive duration"); err != nil {
			return err
		}
	}
	skew := min(maxClockSkew, c.Lease/10)
	stopAhead := c.Grace + skew
	if g.Ledger != "" && stopAhead >= c.Lease*2/3 {
		return usageError{fmt.Errorf("--grace %s does not fit in --lease %s: a holder that cannot renew must stop the command (grace, plus %s for the clocks) before its lease can run out, and after its first renewal was due; raise --lease to at least %s or lower --grace",
			c.Grace, c.Lease, skew, (stopAhead*3/2 + time.Second).Round(time.Second))}
	}
	name := c.Name
	if name == "" {
		name = strings.Join(argv, " ")
	}
	if _, se := gate.Resolve(argv[0]); se != nil {
		return fmt.Errorf("service: %w", se)
	}
	log := newLogger(d.Stderr, g.Verbose, c.LogFormat).With("service", name)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	sup := gate.Supervisor{
		Argv: argv, Grace: c.Grace, Logger: log, Clock: d.Clock,
	}
	n, info, err := c.notifier(name, log)
	if err != nil {
		return err
	}
	if n != nil {
		defer n.Wait(c.HookTimeout + 20*time.Second)
	}
	starts := 0
	run := func(ctx context.Context, env []string) {
		out, errOut := schedule.NewOutputWriter(log, "stdout"), schedule.NewOutputWriter(log, "stderr")
		tail := &runTail{cur: &gate.TailBuffer{}}
		s := sup
		s.Stdout, s.Stderr = io.MultiWriter(out, tail), io.MultiWriter(errOut, tail)
		s.Env = append(os.Environ(), env...)
		var cur schedule.RunInfo
		s.Started = func(pid int) {
			log.Info("service command started", "pid", pid, "env", strings.Join(env, " "))
			if n != nil {
				starts++
				cur = info
				cur.ID, cur.Tick, cur.Attempt = envValue(env, "LEADERGATE_RUN_ID", name)+"."+strconv.Itoa(starts), d.Now(), starts
				cur.Fence, _ = strconv.ParseInt(envValue(env, "LEADERGATE_FENCE", "0"), 10, 64)
				n.Started(cur)
			}
		}
		s.Exited = func(code int, dur time.Duration, stopped bool) {
			// Wait has copied all of this run's output: the next run
			// starts a tail of its own.
			defer tail.next()
			if n == nil || stopped { // a handover or shutdown is no failure of the command
				return
			}
			res := schedule.Result{Outcome: schedule.Succeeded, Code: code, Duration: dur, Tail: tail.Bytes()}
			if code != 0 {
				res.Outcome = schedule.Failed
			}
			n.Finished(cur, res)
		}
		if err := s.Run(ctx); err != nil {
			log.Error("service command cannot start", "err", err)
			<-ctx.Done()
		}
		out.Flush()
		errOut.Flush()
	}

	who, err := g.whoLeads(d, log, time.Time{})
	if err != nil {
		return err
	}
	var e *elect.Elector
	if g.Assume == "" {
		e, _ = g.elector(d, log)
	}
	handOver := c.handOver(ctx, d, e, log)

	if g.Ledger == "" {
		return c.followElection(ctx, g, d, e, name, run, handOver, log)
	}
	k := ledger.ServiceKey(who.group, name)
	if err := k.Check(); err != nil {
		return &ledger.Error{Code: exitcode.Config, Err: err, Fix: "give a shorter --name"}
	}
	store, err := ledgerStore(context.Background(), g.Ledger, "", d, log, who.region)
	if err != nil {
		return err
	}
	s := &ledger.Service{
		Ledger:        &ledger.Ledger{Store: store, Owner: who.self, Clock: d.Clock, Lease: c.Lease},
		Key:           k,
		TakeoverAfter: c.TakeoverAfter,
		Poll:          c.Poll,
		StopAhead:     stopAhead,
		HandOver:      handOver,
		Run:           func(ctx context.Context, l *ledger.Lease) { run(ctx, l.Env()) },
		Logger:        log,
		Leader: func(ctx context.Context) (bool, error) {
			if g.Assume != "" {
				return g.Assume == "leader", nil
			}
			v, err := e.Decide(ctx, elect.Request{})
			return err == nil && v.Leader, err
		},
	}
	log.Info("service waiting for its turn", "instance", who.self, "group", who.group, "ledger", g.Ledger, "lease", c.Lease)
	return s.Loop(ctx)
}

// notifier is the pings and failure hook of --ping-url and --on-failure;
// nil when neither is given.
func (c *serviceCmd) notifier(name string, log *slog.Logger) (*notify.Notifier, schedule.RunInfo, error) {
	if c.PingURL == "" && c.OnFailure == "" {
		return nil, schedule.RunInfo{}, nil
	}
	j := schedule.Job{Name: name, OnFailure: c.OnFailure, Shell: "/bin/sh"}
	if c.PingURL != "" {
		var p schedule.Job
		if err := schedule.SetDirective(&p, "ping", c.PingURL); err != nil {
			return nil, schedule.RunInfo{}, usageError{err}
		}
		j.Ping = p.Ping
	}
	return notify.New(notify.Config{HookTimeout: c.HookTimeout, Logger: log}), schedule.RunInfo{Job: j}, nil
}

// runTail keeps the end of the output of the current run only: each exit
// starts a new tail, so a failure reports its own run's output.
type runTail struct {
	mu  sync.Mutex
	cur *gate.TailBuffer
}

func (t *runTail) next() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur = &gate.TailBuffer{}
}

func (t *runTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	cur := t.cur
	t.mu.Unlock()
	return cur.Write(p)
}

func (t *runTail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur.Bytes()
}

// envValue is the value of key in env, or def.
func envValue(env []string, key, def string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return def
}

// handOver says why this instance must not run the service now: it was
// drained (leadergate drain, or its scheduler drained it on a notice), or
// IMDS gives notice that it is leaving.
func (c *serviceCmd) handOver(ctx context.Context, d *Deps, e *elect.Elector, log *slog.Logger) func(context.Context) string {
	var notice atomic.Pointer[string]
	if e != nil && c.IMDSPoll > 0 {
		if aws, ok := e.Identity.(*elect.AWS); ok {
			w := &lifecycle.Watcher{Metadata: aws, Rebalance: c.DrainOnRebalance, Logger: log}
			go func() {
				for {
					if n, _, ok := w.Check(ctx); ok {
						why := n.Kind + " notice: " + n.Reason
						if old := notice.Swap(&why); old == nil {
							log.Warn("this instance is leaving; the service moves to another", "notice", why)
						}
					}
					select {
					case <-ctx.Done():
						return
					case <-d.Clock.After(c.IMDSPoll):
					}
				}
			}()
		}
	}
	return func(ctx context.Context) string {
		if why := notice.Load(); why != nil {
			return *why
		}
		if e == nil {
			return ""
		}
		if dr, ok, _ := e.Draining(ctx); ok {
			return "drained: " + dr.Reason
		}
		return ""
	}
}

// followElection runs the service where the election says this instance
// leads, without the ledger: around a handover two instances may run it at
// once (the old leader until it sees it lost, the new one from when it sees
// it won), which the start says.
func (c *serviceCmd) followElection(ctx context.Context, g *Globals, d *Deps, e *elect.Elector, name string,
	run func(context.Context, []string), handOver func(context.Context) string, log *slog.Logger) error {
	log.Warn("without --ledger the service follows the election: around a handover two instances may run it at once, for up to --max-age plus the time EC2 takes to list a change; pass --ledger TABLE for never two at once")
	leads := func() (bool, error) {
		if g.Assume != "" {
			return g.Assume == "leader", nil
		}
		ectx, cancel := context.WithTimeout(ctx, g.Timeout)
		defer cancel()
		v, err := e.Decide(ectx, elect.Request{})
		return err == nil && v.Leader, err
	}
	for ctx.Err() == nil {
		leader, err := leads()
		if err != nil && ctx.Err() == nil {
			if elect.CannotTell(err) == exitcode.Config {
				return err
			}
			log.Warn("cannot tell who leads; not running the service", "err", err)
		}
		if leader && handOver(ctx) == "" {
			runCtx, cancel := context.WithCancel(ctx)
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				for {
					select {
					case <-runCtx.Done():
						return
					case <-d.Clock.After(c.Poll):
					}
					if l, err := leads(); (err == nil && !l) || handOver(runCtx) != "" {
						log.Info("no longer the leader: stopping the service")
						cancel()
						return
					}
				}
			}()
			log.Info("this instance leads: starting the service")
			run(runCtx, []string{"LEADERGATE_JOB=" + name})
			cancel()
			<-watched
			continue
		}
		select {
		case <-ctx.Done():
		case <-d.Clock.After(c.Poll):
		}
	}
	return nil
}
