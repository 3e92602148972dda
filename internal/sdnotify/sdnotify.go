// Package sdnotify tells systemd, through the scheduler's hooks, that the
// scheduler is ready (READY=1 after the first successful load of its
// schedule) and that its loop is alive (WATCHDOG=1 as the loop goes round,
// at most every sixth of the watchdog period). A wedged loop stops the
// pings, and systemd restarts the unit after WatchdogSec.
//
// Outside systemd (no NOTIFY_SOCKET) New returns nil and nothing is sent.
package sdnotify

import (
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/leadergate/leadergate/schedule"
)

// Notifier implements schedule.Hooks.
type Notifier struct {
	schedule.NopHooks
	log *slog.Logger
	// Watchdog is systemd's WATCHDOG_USEC; 0 when the unit has none.
	Watchdog time.Duration

	mu    sync.Mutex
	ready bool
	last  time.Time
}

// New returns a Notifier when systemd listens (NOTIFY_SOCKET is set), else
// nil. It reads WATCHDOG_USEC for the watchdog period.
func New(log *slog.Logger) *Notifier {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("ignoring systemd's watchdog setting", "error", err)
		wd = 0
	}
	return &Notifier{log: log, Watchdog: wd}
}

// Heartbeat is how often the loop must go round for the watchdog: a third
// of its period, so a ping or two may be late without a restart; 0 without
// a watchdog.
func (n *Notifier) Heartbeat() time.Duration { return n.Watchdog / 3 }

func (n *Notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("cannot notify systemd", "state", state, "error", err)
	}
}

// Loaded sends READY=1 the first time.
func (n *Notifier) Loaded([]schedule.Job) {
	n.mu.Lock()
	first := !n.ready
	n.ready = true
	n.mu.Unlock()
	if first {
		n.send(daemon.SdNotifyReady)
	}
}

// Alive pings the watchdog, at most every half period.
func (n *Notifier) Alive() {
	if n.Watchdog <= 0 {
		return
	}
	n.mu.Lock()
	now := time.Now()
	due := now.Sub(n.last) >= n.Watchdog/6
	if due {
		n.last = now
	}
	n.mu.Unlock()
	if due {
		n.send(daemon.SdNotifyWatchdog)
	}
}

// Stopping tells systemd the scheduler is shutting down.
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

var _ schedule.Hooks = (*Notifier)(nil)
