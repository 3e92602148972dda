// Package notify tells the outside world how jobs end: pings in the
// healthchecks.io protocol (also what Cronitor and most dead-man's-switch
// services accept) and a failure hook command, cron's MAILTO successor.
//
// # Guarantees
//
// A ping or a hook never delays, fails or blocks a job: both run in the
// background after the scheduler's hook returns. A ping has a short
// timeout and is retried twice; when every attempt fails it is one warning
// line, never an error of the job. A hook is bounded by a timeout (its
// process group gets SIGTERM, then SIGKILL).
//
// Not guaranteed: a ping or hook still going when the scheduler stops is
// waited for only a few seconds ([Notifier.Wait]).
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/schedule"
)

// Defaults of Config.
const (
	DefaultPingTimeout = 5 * time.Second
	DefaultHookTimeout = time.Minute
	pingAttempts       = 3 // one try and two retries
)

// Config configures a Notifier.
type Config struct {
	// OnFailure is the hook of jobs without "# on-failure:"; empty: none.
	OnFailure   string
	HookTimeout time.Duration // 0: DefaultHookTimeout
	PingTimeout time.Duration // per attempt; 0: DefaultPingTimeout
	// RetryDelay is the pause before a ping's retry; 0: one second.
	RetryDelay time.Duration
	Logger     *slog.Logger
	Client     *http.Client // nil: a client with PingTimeout
	// Sendmail is the sendmail program for MAILTO=; empty: looked up in
	// PATH, /usr/sbin and /usr/lib.
	Sendmail string
}

// Notifier implements schedule.Hooks.
type Notifier struct {
	schedule.NopHooks
	cfg    Config
	log    *slog.Logger
	client *http.Client
	wg     sync.WaitGroup

	mu         sync.Mutex
	rids       map[string]startPing // run id → its start ping
	mailWarned bool
}

// New returns a Notifier.
func New(cfg Config) *Notifier {
	if cfg.HookTimeout <= 0 {
		cfg.HookTimeout = DefaultHookTimeout
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sendmail == "" {
		cfg.Sendmail = findSendmail()
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{Timeout: cfg.PingTimeout}
	}
	return &Notifier{cfg: cfg, log: cfg.Logger, client: c, rids: map[string]startPing{}}
}

func findSendmail() string {
	if p, err := exec.LookPath("sendmail"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/sendmail", "/usr/lib/sendmail"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Wait waits up to d for pings and hooks in progress.
func (n *Notifier) Wait(d time.Duration) {
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		n.log.Warn("stopped without waiting for pings or failure hooks still going", "waited", d)
	}
}

func (n *Notifier) background(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Loaded reports MAILTO= once when this host cannot send mail.
func (n *Notifier) Loaded(jobs []schedule.Job) {
	if n.cfg.Sendmail != "" {
		return
	}
	for _, j := range jobs {
		if to := mailto(j); to != "" {
			n.mu.Lock()
			warned := n.mailWarned
			n.mailWarned = true
			n.mu.Unlock()
			if !warned {
				n.log.Warn("MAILTO is not supported on this host (no sendmail): failed runs are not mailed; use # on-failure: or --on-failure", "mailto", to)
			}
			return
		}
	}
}

func mailto(j schedule.Job) string {
	to := ""
	for _, e := range j.Env {
		if v, ok := strings.CutPrefix(e, "MAILTO="); ok {
			to = strings.Trim(v, `"'`)
		}
	}
	return to
}

// startPing is a run's /start ping: the rid that pairs it with the end,
// and a channel closed once it has been sent (or given up).
type startPing struct {
	rid  string
	sent chan struct{}
}

// Started pings URL/start.
func (n *Notifier) Started(r schedule.RunInfo) {
	if r.Job.Ping == "" {
		return
	}
	sp := startPing{rid: newUUID(), sent: make(chan struct{})}
	n.mu.Lock()
	n.rids[r.ID] = sp
	n.mu.Unlock()
	n.background(func() {
		defer close(sp.sent)
		n.Ping(context.Background(), r.Job.Name, r.Job.Ping+"/start", sp.rid, nil)
	})
}

// Finished pings URL or URL/<code>, and runs the failure hook and mail.
func (n *Notifier) Finished(r schedule.RunInfo, res schedule.Result) {
	if r.Job.Ping != "" {
		n.mu.Lock()
		sp, started := n.rids[r.ID]
		delete(n.rids, r.ID)
		n.mu.Unlock()
		u, body := r.Job.Ping, []byte(nil)
		if res.Failure() {
			u, body = r.Job.Ping+FailPath(res), res.Tail
		}
		n.background(func() {
			// The end after its start, never before: a monitor that sees
			// /start after the end reads a run that never finished.
			if started {
				<-sp.sent
			}
			n.Ping(context.Background(), r.Job.Name, u, sp.rid, body)
		})
	}
	if !res.Failure() {
		return
	}
	if hook := r.Job.OnFailure; hook != "" || n.cfg.OnFailure != "" {
		if hook == "" {
			hook = n.cfg.OnFailure
		}
		n.background(func() { n.runHook(r, res, hook) })
	}
	if to := mailto(r.Job); to != "" && n.cfg.Sendmail != "" {
		n.background(func() { n.mail(r, res, to) })
	}
}

// FailPath is the ping path of a failed run: /<exit code> when the run
// exited with one (healthchecks.io reads 1-255 as failure), else /fail.
func FailPath(res schedule.Result) string {
	if res.Code > 0 && res.Code <= 255 {
		return "/" + strconv.Itoa(res.Code)
	}
	return "/fail"
}

// Ping sends one ping: GET without a body, POST with one; rid (when not
// empty) pairs a start with its end. It tries three times and logs one
// warning when all fail. It returns whether the ping got through.
func (n *Notifier) Ping(ctx context.Context, job, rawURL, rid string, body []byte) bool {
	u := rawURL
	if rid != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "rid=" + url.QueryEscape(rid)
	}
	var last error
	for attempt := 1; attempt <= pingAttempts; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(n.cfg.RetryDelay):
			}
		}
		if last = n.pingOnce(ctx, u, body); last == nil {
			return true
		}
	}
	n.log.Warn("ping failed; the job is not affected", "job", job, "url", redact(rawURL), "attempts", pingAttempts, "error", last)
	return false
}

func (n *Notifier) pingOnce(ctx context.Context, u string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.PingTimeout)
	defer cancel()
	method := http.MethodGet
	if body != nil {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "leadergate")
	resp, err := n.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // without the URL: its path is the check's secret
		}
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}

// redact keeps a ping URL's scheme and host: its path is the check's
// secret.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad URL)"
	}
	return u.Scheme + "://" + u.Host + "/..."
}

// LostRun reports a run that died with its instance, found lost here by
// the tick ledger, as the failed run it is: its /fail ping (the start ping
// came from the instance that died, with a rid this one cannot know), the
// failure hook and MAILTO, with LEADERGATE_OUTCOME=lost and no exit code.
func (n *Notifier) LostRun(r schedule.RunInfo) {
	n.Finished(r, schedule.Result{Outcome: schedule.Lost, Code: -1,
		Tail: []byte("leadergate: run " + r.ID + " was lost with its instance: its lease ran out while it ran; its output died with it\n")})
}

// Missed reports a tick of job that no instance ran and none recorded a
// reason for, found and recorded missed here, as the failed run it is: the
// /fail ping, the failure hook and MAILTO, with LEADERGATE_OUTCOME=missed,
// no run id and no exit code.
func (n *Notifier) Missed(job schedule.Job, tick time.Time) {
	n.Finished(schedule.RunInfo{Job: job, Tick: tick}, schedule.Result{Outcome: schedule.Missed, Code: -1,
		Tail: []byte("leadergate: the tick " + tick.UTC().Format(time.RFC3339) + " of " + job.Name +
			" was missed: no instance ran it and none recorded why (every scheduler was down across it)\n")})
}

// Skipped reports nothing: a tick skipped on purpose is no failure.
func (n *Notifier) Skipped(schedule.Job, time.Time, string) {}

// Env is the failure report as environment variables, for hooks.
func Env(r schedule.RunInfo, res schedule.Result) []string {
	return []string{
		"LEADERGATE_JOB=" + r.Job.Name,
		"LEADERGATE_SCHEDULED_AT=" + r.Tick.In(zone(r.Job)).Format(time.RFC3339),
		"LEADERGATE_RUN_ID=" + r.ID,
		"LEADERGATE_EXIT_CODE=" + exitCode(res),
		"LEADERGATE_OUTCOME=" + res.Outcome,
		"LEADERGATE_OUTPUT_TAIL=" + string(res.Tail),
	}
}

// exitCode is the run's exit code for the report, empty when there is none
// (a lost run's died with its instance; a run that could not start has none).
func exitCode(res schedule.Result) string {
	if res.Code < 0 {
		return ""
	}
	return strconv.Itoa(res.Code)
}

func zone(j schedule.Job) *time.Location {
	if j.TZ == nil {
		return time.Local
	}
	return j.TZ
}

func (n *Notifier) runHook(r schedule.RunInfo, res schedule.Result, hook string) {
	log := n.log.With("job", r.Job.Name, "run_id", r.ID)
	f, err := os.CreateTemp("", "leadergate-output-*.txt")
	env := append(os.Environ(), r.Job.Env...)
	env = append(env, Env(r, res)...)
	if err == nil {
		defer os.Remove(f.Name())
		_, werr := f.Write(res.Tail)
		if cerr := f.Close(); werr == nil && cerr == nil {
			env = append(env, "LEADERGATE_OUTPUT_FILE="+f.Name())
		}
	}
	shell := r.Job.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	cmd := exec.Command(shell, "-c", hook)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HookTimeout)
	defer cancel()
	code, err := gate.RunGroup(ctx, cmd, 5*time.Second)
	switch {
	case err != nil:
		log.Warn("failure hook could not start", "error", err)
	case ctx.Err() != nil:
		log.Warn("failure hook stopped: it ran longer than its timeout", "timeout", n.cfg.HookTimeout, "exit_code", code, "output", tailString(out.Bytes()))
	case code != 0:
		log.Warn("failure hook failed", "exit_code", code, "output", tailString(out.Bytes()))
	default:
		log.Info("failure hook ran", "exit_code", code)
	}
}

func (n *Notifier) mail(r schedule.RunInfo, res schedule.Result, to string) {
	var msg bytes.Buffer
	how := res.Outcome
	if code := exitCode(res); code != "" {
		how += ", exit code " + code
	}
	fmt.Fprintf(&msg, "To: %s\nSubject: leadergate: job %s %s\n\n", to, r.Job.Name, how)
	fmt.Fprintf(&msg, "Job %s, scheduled at %s, run %s: %s after %s.\n\nEnd of its output:\n\n%s\n",
		r.Job.Name, r.Tick.In(zone(r.Job)).Format(time.RFC3339), r.ID, how, res.Duration.Round(time.Millisecond), res.Tail)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.cfg.Sendmail, "-t")
	cmd.Stdin = &msg
	if out, err := cmd.CombinedOutput(); err != nil {
		n.log.Warn("MAILTO: sendmail failed", "job", r.Job.Name, "error", err, "output", tailString(out))
	}
}

func tailString(b []byte) string {
	const max = 2 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// newUUID returns a random (version 4) UUID: healthchecks.io takes only
// UUIDs as rid.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

var _ schedule.Hooks = (*Notifier)(nil)
