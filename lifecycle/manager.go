package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/clock"
)

// Drainer is what the Manager needs of the election (elect.Elector).
type Drainer interface {
	Drain(ctx context.Context, d elect.Drain) error
	Undrain(ctx context.Context) error
	Draining(ctx context.Context) (elect.Drain, bool, error)
}

// Protector sets and clears this instance's scale-in protection.
type Protector interface {
	SetProtected(ctx context.Context, on bool) error
}

// apiTimeout bounds one drain, undrain or protection call: at shutdown
// systemd waits, but not forever.
const apiTimeout = 10 * time.Second

// Manager drains this instance when a notice says it is leaving or when the
// scheduler stops, and protects it from scale-in while leader-only jobs run.
type Manager struct {
	Watcher  *Watcher // nil: no IMDS polling
	Interval time.Duration
	Drainer  Drainer
	// Protector, when set, is --protect. ProtectRecord is a file in the
	// state dir present while this process holds a protection, so that one
	// left by a crash is cleared at the next start, and only that one.
	Protector     Protector
	ProtectRecord string
	// OnDrain is told of every drain (the scheduler's Options.Drains).
	OnDrain func(reason string, deadline time.Time)
	Clock   clock.Clock // nil: the system clock
	Logger  *slog.Logger

	wants     chan bool // latest wanted protection, from LeaderJobs
	draining  bool
	cause     string
	protected bool
}

func (m *Manager) defaults() {
	m.Clock = clock.Or(m.Clock)
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	if m.Watcher != nil && m.Watcher.Logger == nil {
		m.Watcher.Logger = m.Logger
	}
	if m.Interval <= 0 {
		m.Interval = DefaultInterval
	}
	if m.wants == nil {
		m.wants = make(chan bool, 1)
	}
}

// LeaderJobs is the scheduler's Options.LeaderJobs: protection is wanted
// while at least one leader-only run is in progress. It never blocks: only
// the latest wish is kept.
func (m *Manager) LeaderJobs(running int) {
	want := running > 0
	select {
	case m.wants <- want:
	default:
		select {
		case <-m.wants:
		default:
		}
		select {
		case m.wants <- want:
		default:
		}
	}
}

// Start settles what a previous run left on this instance before the
// scheduler starts: a drain it set itself (a restart after SIGTERM, a
// lifecycle state that is over) is removed unless a notice still applies;
// an operator's drain stays; a scale-in protection left by a crash is
// cleared.
func (m *Manager) Start(ctx context.Context) {
	m.defaults()
	if m.Protector != nil {
		if _, err := os.Stat(m.ProtectRecord); err == nil {
			m.protected = true
			m.setProtected(ctx, false, "left by a previous run")
		}
	}
	d, ok, err := m.Drainer.Draining(ctx)
	switch {
	case err != nil:
		m.Logger.Warn("cannot tell whether this instance is drained", "error", err)
		return
	case !ok:
		return
	case !d.Automatic():
		m.draining, m.cause = true, d.Cause
		m.Logger.Warn("this instance is drained by an operator: it leads nothing until `leadergate undrain`", "reason", d.Reason, "since", d.At)
		return
	}
	if m.Watcher != nil {
		if n, _, ok := m.Watcher.Check(ctx); ok {
			m.draining, m.cause = true, n.Kind
			m.Logger.Warn("still leaving: this instance stays drained", "reason", n.Reason)
			m.notify(n.Reason, n.Deadline)
			return
		}
	}
	uctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	if err := m.Drainer.Undrain(uctx); err != nil {
		m.Logger.Warn("cannot remove the drain left by the last run; this instance stays out of elections", "reason", d.Reason, "error", err)
		m.draining, m.cause = true, d.Cause
		return
	}
	m.Logger.Info("removed the drain left by the last run on this instance", "reason", d.Reason, "since", d.At)
}

// Run polls IMDS every Interval and applies protection wishes until ctx is
// done; then it drains this instance (the scheduler is stopping: SIGTERM at
// shutdown or a restart) and clears its protection. Call Start first.
func (m *Manager) Run(ctx context.Context) {
	m.defaults()
	var tick <-chan time.Time
	if m.Watcher != nil {
		tick = m.Clock.After(0)
	}
	for {
		select {
		case <-ctx.Done():
			m.shutdown(context.Cause(ctx))
			return
		case want := <-m.wants:
			if m.Protector != nil {
				m.setProtected(ctx, want && !m.draining, "leader-only jobs running")
			}
		case <-tick:
			m.poll(ctx)
			tick = m.Clock.After(m.Interval)
		}
	}
}

func (m *Manager) poll(ctx context.Context) {
	n, r, leaving := m.Watcher.Check(ctx)
	switch {
	case leaving && !m.draining:
		m.drain(ctx, elect.Drain{Reason: n.Reason, Cause: n.Kind, Deadline: n.Deadline})
	case m.draining && BackInService(m.cause, r):
		uctx, cancel := context.WithTimeout(ctx, apiTimeout)
		defer cancel()
		if err := m.Drainer.Undrain(uctx); err != nil {
			m.Logger.Warn("back in service, but the drain cannot be removed yet; retried at the next poll", "error", err)
			return
		}
		m.draining, m.cause = false, ""
		m.Logger.Info("back in service: this instance takes part in elections again")
	}
}

func (m *Manager) drain(ctx context.Context, d elect.Drain) {
	m.draining, m.cause = true, d.Cause
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
	defer cancel()
	start := time.Now()
	err := m.Drainer.Drain(dctx, d)
	if err != nil {
		// The local record is written first: this instance follows anyway,
		// and its elections set the tags again.
		m.Logger.Warn("draining: this instance follows, but its draining tag could not be set; others may elect it until they see it",
			"reason", d.Reason, "error", err)
	} else {
		m.Logger.Warn("draining: stepped down, the next oldest instance leads from its next election",
			"reason", d.Reason, "deadline", d.Deadline, "took", time.Since(start).Round(time.Millisecond))
	}
	m.notify(d.Reason, d.Deadline)
	if m.Protector != nil {
		m.setProtected(dctx, false, "drained")
	}
}

func (m *Manager) notify(reason string, deadline time.Time) {
	if m.OnDrain != nil {
		m.OnDrain(reason, deadline)
	}
}

// Stop is the cause of a scheduler's stop (context.Cause of the context
// Run is given): Drain says whether the instance steps down. Only the
// instance's own service stopping (SIGTERM from systemd at shutdown or a
// deploy's restart) drains it; an operator's Ctrl-C on a scheduler tried by
// hand must not take leadership away from the production one.
type Stop struct {
	Reason string // e.g. "SIGTERM", "SIGINT"
	Drain  bool
}

func (s Stop) Error() string { return "the scheduler is stopping (" + s.Reason + ")" }

func (m *Manager) shutdown(cause error) {
	var stop Stop
	if !errors.As(cause, &stop) {
		stop = Stop{Reason: "stopped", Drain: true}
	}
	if !m.draining && stop.Drain {
		m.drain(context.Background(), elect.Drain{Reason: stop.Error(), Cause: elect.CauseShutdown})
		return
	}
	if !m.draining {
		m.Logger.Info("stopping without draining: leadership stays with this instance's service", "reason", stop.Reason)
	}
	if m.Protector != nil {
		ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
		defer cancel()
		m.setProtected(ctx, false, "shutdown")
	}
}

// setProtected applies a protection change when it differs from what this
// process last set. A refusal is a warning: the jobs run anyway.
func (m *Manager) setProtected(ctx context.Context, on bool, why string) {
	if on == m.protected {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	if on {
		// Recorded before the call: a crash right after must not leave a
		// protection no one clears.
		if err := os.WriteFile(m.ProtectRecord, nil, 0o600); err != nil {
			m.Logger.Warn("cannot record the scale-in protection; it is not set", "error", err)
			return
		}
	}
	err := m.Protector.SetProtected(ctx, on)
	switch {
	case errors.Is(err, ErrDenied):
		m.Logger.Warn("scale-in protection refused: attach the statement printed by `leadergate iam-policy --protect` to the instance role; jobs run unprotected",
			"protect", on, "error", err)
	case err != nil:
		m.Logger.Warn("cannot change the scale-in protection; tried again at the next change", "protect", on, "error", err)
	default:
		m.Logger.Info("scale-in protection changed", "protected", on, "why", why)
	}
	if err != nil {
		if on {
			os.Remove(m.ProtectRecord)
		}
		return
	}
	m.protected = on
	if !on {
		os.Remove(m.ProtectRecord)
	}
}
