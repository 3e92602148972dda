// Package metrics serves the scheduler's Prometheus metrics and its
// /healthz, from the scheduler's hooks (schedule.Hooks).
//
// Every Metrics has its own registry: nothing is registered in
// client_golang's global default, so two schedulers in one process (tests)
// do not share counters. Counters live as long as the Metrics, so they
// survive a SIGHUP reload; the per-job gauges of a job that a reload
// removed are deleted, so no alert fires on a job that no longer exists.
//
// The fleet counters of the tick ledger (claims, lost runs, catch-ups) count
// what the scheduler's hooks [Metrics.Claimed], [Metrics.LostRun] and
// [Metrics.CaughtUp] hear; they are registered from the start, at 0, so
// dashboards and alerts can be written before the ledger is switched on.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/leadergate/leadergate/schedule"
)

// Metrics implements schedule.Hooks.
type Metrics struct {
	schedule.NopHooks

	reg *prometheus.Registry
	now func() time.Time
	// stale is how long after the loop's last round /healthz says 503.
	stale time.Duration

	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	nextRun     *prometheus.GaugeVec
	interval    *prometheus.GaugeVec
	running     *prometheus.GaugeVec
	lateness    *prometheus.GaugeVec
	leader      prometheus.Gauge
	elections   *prometheus.CounterVec
	claims      *prometheus.CounterVec
	lost        prometheus.Counter
	catchUps    prometheus.Counter
	drains      prometheus.Counter

	mu       sync.Mutex
	alive    time.Time // the loop's last round
	stopped  bool
	jobs     map[string]bool // the jobs of the current schedule
	inFlight map[string]int
}

// New returns the metrics with their registry. now is the clock of
// /healthz; stale is how long the loop may stay silent before /healthz
// answers 503 (give it a few Options.Heartbeat).
func New(now func() time.Time, stale time.Duration) *Metrics {
	job := []string{"job"}
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		now:   now,
		stale: stale,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadergate_job_runs_total",
			Help: "Runs of a job that started here, by result: succeeded, failed, timed_out, stopped (shutdown or drain), not_started.",
		}, []string{"job", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leadergate_job_duration_seconds",
			Help:    "How long the runs of a job took.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600},
		}, job),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leadergate_job_last_success_timestamp_seconds",
			Help: "When the last successful run of a job on this instance ended (Unix time).",
		}, job),
		nextRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leadergate_job_next_run_timestamp_seconds",
			Help: "A job's next nominal run (Unix time).",
		}, job),
		interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leadergate_job_interval_seconds",
			Help: "Time between a job's next two nominal runs: its period, for 'not succeeded within its period' alerts.",
		}, job),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leadergate_job_running",
			Help: "Runs of a job in progress on this instance.",
		}, job),
		lateness: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leadergate_job_lateness_seconds",
			Help: "How long after its nominal tick the last run of a job started.",
		}, job),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "leadergate_leader",
			Help: "1 while this instance is the group's leader, else 0.",
		}),
		elections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadergate_elections_total",
			Help: "Background leadership checks, by result: leader, follower, error.",
		}, []string{"result"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadergate_ticks_claimed_total",
			Help: "Leader-only ticks the tick ledger decided here, by result: won (claimed by the leader at the tick), taken_over (claimed after the takeover delay, or to rerun a lost run), taken_elsewhere (another instance holds or held it).",
		}, []string{"result"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leadergate_lost_runs_total",
			Help: "Runs this instance found lost with their instance (their lease ran out) and recorded lost or reran.",
		}),
		catchUps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leadergate_catchups_total",
			Help: "Ticks missed while no scheduler ran, claimed here to run late (catch-up).",
		}),
		drains: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leadergate_drains_total",
			Help: "Times this instance stepped down (spot notice, lifecycle, SIGTERM, leadergate drain).",
		}),
		jobs:     map[string]bool{},
		inFlight: map[string]int{},
	}
	m.reg.MustRegister(m.runs, m.duration, m.lastSuccess, m.nextRun, m.interval, m.running, m.lateness,
		m.leader, m.elections, m.claims, m.lost, m.catchUps, m.drains)
	// Zero series, so that rate() and absent() work before the first event.
	for _, r := range []string{"leader", "follower", "error"} {
		m.elections.WithLabelValues(r)
	}
	for _, r := range []string{schedule.ClaimWon, schedule.ClaimTakenElsewhere, schedule.ClaimTakenOver} {
		m.claims.WithLabelValues(r)
	}
	return m
}

// Registry is where the metrics are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics and /healthz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := m.Healthy(); err != "" {
			http.Error(w, err, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Healthy returns "" while the loop is alive, else why not.
func (m *Metrics) Healthy() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.stopped:
		return "the scheduler loop has stopped\n"
	case m.alive.IsZero():
		return "the scheduler loop has not started\n"
	case m.now().Sub(m.alive) > m.stale:
		return "the scheduler loop has not gone round for " + m.now().Sub(m.alive).Round(time.Second).String() + "\n"
	}
	return ""
}

// Stopped makes /healthz answer 503 from now on (the loop has returned).
func (m *Metrics) Stopped() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
}

// Claimed counts the ledger's answer for a tick; result is
// schedule.ClaimWon, ClaimTakenOver or ClaimTakenElsewhere.
func (m *Metrics) Claimed(_ schedule.Job, _ time.Time, result string) {
	m.claims.WithLabelValues(result).Inc()
}

// LostRun counts a run this instance found lost with its instance.
func (m *Metrics) LostRun(schedule.RunInfo) { m.lost.Inc() }

// CaughtUp counts a missed tick claimed here to run late.
func (m *Metrics) CaughtUp(schedule.Job, time.Time) { m.catchUps.Inc() }

// Missed counts a tick nobody ran as a run with result "missed".
func (m *Metrics) Missed(j schedule.Job, _ time.Time) {
	m.runs.WithLabelValues(j.Name, schedule.Missed).Inc()
}

// Skipped counts nothing: the log and the ledger's history say why.
func (m *Metrics) Skipped(schedule.Job, time.Time, string) {}

// Loaded forgets the gauges of jobs that are gone; counters stay.
func (m *Metrics) Loaded(jobs []schedule.Job) {
	now := map[string]bool{}
	for _, j := range jobs {
		now[j.Name] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.jobs {
		if !now[name] {
			m.nextRun.DeleteLabelValues(name)
			m.interval.DeleteLabelValues(name)
			if m.inFlight[name] == 0 {
				m.running.DeleteLabelValues(name)
			}
		}
	}
	for name := range now {
		m.running.WithLabelValues(name).Add(0)
	}
	m.jobs = now
}

func (m *Metrics) Planned(j schedule.Job, next time.Time) {
	if next.IsZero() {
		m.nextRun.DeleteLabelValues(j.Name)
		m.interval.DeleteLabelValues(j.Name)
		return
	}
	m.nextRun.WithLabelValues(j.Name).Set(unix(next))
	if after := j.Next(next); !after.IsZero() {
		m.interval.WithLabelValues(j.Name).Set(after.Sub(next).Seconds())
	}
}

func (m *Metrics) Alive() {
	m.mu.Lock()
	m.alive = m.now()
	m.mu.Unlock()
}

func (m *Metrics) Leadership(leader bool, err error) {
	switch {
	case err != nil:
		m.elections.WithLabelValues("error").Inc()
		return // the gauge keeps its last known value
	case leader:
		m.elections.WithLabelValues("leader").Inc()
		m.leader.Set(1)
	default:
		m.elections.WithLabelValues("follower").Inc()
		m.leader.Set(0)
	}
}

func (m *Metrics) Started(r schedule.RunInfo) {
	m.mu.Lock()
	m.inFlight[r.Job.Name]++
	m.mu.Unlock()
	m.running.WithLabelValues(r.Job.Name).Inc()
	m.lateness.WithLabelValues(r.Job.Name).Set(r.Lateness.Seconds())
}

func (m *Metrics) Finished(r schedule.RunInfo, res schedule.Result) {
	name := r.Job.Name
	m.mu.Lock()
	m.inFlight[name]--
	m.mu.Unlock()
	m.running.WithLabelValues(name).Dec()
	m.runs.WithLabelValues(name, res.Outcome).Inc()
	if res.Outcome != schedule.NotStarted {
		m.duration.WithLabelValues(name).Observe(res.Duration.Seconds())
	}
	if res.Outcome == schedule.Succeeded {
		m.lastSuccess.WithLabelValues(name).Set(unix(m.now()))
	}
}

func (m *Metrics) Drained() { m.drains.Inc() }

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

var _ schedule.Hooks = (*Metrics)(nil)
