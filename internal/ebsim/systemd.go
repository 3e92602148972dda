package ebsim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// restartDelay stands for every RestartSec=: the simulator restarts sooner.
const restartDelay = 100 * time.Millisecond

// services is one instance's service manager (see the package comment).
type services struct {
	in  *Instance
	srv *httptest.Server
	url string

	mu      sync.Mutex
	units   map[string]*Unit
	changed chan struct{} // closed and replaced when a log grows
	down    bool
}

// Unit is the service manager's state of one unit.
type Unit struct {
	Name string
	svc  *services

	// under svc.mu
	state   string // inactive, activating, active, deactivating, failed
	enabled bool
	starts  int
	exits   []int // exit codes of the main process (128+N for signal N)
	proc    *exec.Cmd
	done    chan struct{} // closed when proc has exited
	stopped bool          // the exit was asked for (stop, restart)
}

func newServices(in *Instance) *services {
	s := &services{in: in, units: map[string]*Unit{}, changed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.url = s.srv.URL
	return s
}

func (s *services) unit(name string) *Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.units[name]
	if !ok {
		u = &Unit{Name: name, svc: s, state: "inactive"}
		s.units[name] = u
	}
	return u
}

// State is the unit's state as systemctl is-active prints it.
func (u *Unit) State() string {
	u.svc.mu.Lock()
	defer u.svc.mu.Unlock()
	return u.state
}

// Starts is how often the unit's process was started.
func (u *Unit) Starts() int {
	u.svc.mu.Lock()
	defer u.svc.mu.Unlock()
	return u.starts
}

// Exits are the exit codes of the unit's processes so far.
func (u *Unit) Exits() []int {
	u.svc.mu.Lock()
	defer u.svc.mu.Unlock()
	return slices.Clone(u.exits)
}

// Enabled tells whether systemctl enable was run (and no disable since).
func (u *Unit) Enabled() bool {
	u.svc.mu.Lock()
	defer u.svc.mu.Unlock()
	return u.enabled
}

// PID of the unit's main process, 0 when none runs.
func (u *Unit) PID() int {
	u.svc.mu.Lock()
	defer u.svc.mu.Unlock()
	if u.proc == nil || u.proc.Process == nil {
		return 0
	}
	return u.proc.Process.Pid
}

func (s *services) logChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *services) logGrew() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// serve answers the simulated systemctl: "CODE\nMESSAGE".
func (s *services) serve(w http.ResponseWriter, r *http.Request) {
	args := strings.Fields(r.FormValue("args"))
	code, msg := s.systemctl(args)
	fmt.Fprintf(w, "%d\n%s", code, msg)
}

func (s *services) systemctl(args []string) (int, string) {
	var verb string
	var names []string
	for _, a := range args {
		switch {
		case a == "--version":
			v := s.in.env.opts.Systemd
			return 0, fmt.Sprintf("systemd %d (%d)\n+PAM +AUDIT +SELINUX (simulated)", v, v)
		case strings.HasPrefix(a, "--root="), a == "--quiet", a == "-q", a == "--no-block", a == "--now":
		case strings.HasPrefix(a, "-"):
			return 1, "systemctl (simulated): unknown option " + a
		case verb == "":
			verb = a
		default:
			if !strings.Contains(a, ".") {
				a += ".service"
			}
			names = append(names, a)
		}
	}
	code, out := 0, []string{}
	for _, n := range names {
		u := s.unit(n)
		var err error
		switch verb {
		case "enable":
			u.setEnabled(true)
		case "disable":
			u.setEnabled(false)
		case "start":
			err = u.start(false)
		case "stop":
			u.stop()
		case "restart":
			u.stop()
			err = u.start(false)
		case "try-restart":
			if u.State() == "active" {
				u.stop()
				err = u.start(false)
			}
		case "reload":
			err = u.reload()
		case "reload-or-restart":
			if u.State() == "active" {
				err = u.reload()
			} else {
				err = u.start(false)
			}
		case "is-active":
			st := u.State()
			out = append(out, st)
			if st != "active" {
				code = 3
			}
		case "is-failed":
			st := u.State()
			out = append(out, st)
			if st != "failed" {
				code = 1
			}
		case "reset-failed":
			u.svc.mu.Lock()
			if u.state == "failed" {
				u.state = "inactive"
			}
			u.svc.mu.Unlock()
		default:
			return 1, "systemctl (simulated): unknown command " + verb
		}
		if err != nil {
			code = 1
			out = append(out, err.Error())
		}
	}
	if len(names) == 0 && verb != "daemon-reload" {
		return 1, "systemctl (simulated): " + verb + ": no unit named"
	}
	return code, strings.Join(out, "\n")
}

func (u *Unit) setEnabled(on bool) {
	u.svc.mu.Lock()
	u.enabled = on
	u.svc.mu.Unlock()
}

// unitFile is what the simulator uses of a unit file.
type unitFile struct {
	exec        []string
	dir         string
	env         []string
	envFiles    []string
	notify      bool
	restart     string
	prevent     []int
	stopTimeout time.Duration
	logFile     string
}

// root maps an absolute path of the instance into its root.
func (in *Instance) root(p string) string {
	if strings.HasPrefix(p, "/") {
		return in.Root + p
	}
	return p
}

func (s *services) readUnit(name string) (*unitFile, error) {
	path := filepath.Join(s.in.Root, "etc/systemd/system", name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("Unit %s not found.", name)
	}
	// Drop-ins, in name order, after the unit.
	dropins, _ := filepath.Glob(path + ".d/*.conf")
	slices.Sort(dropins)
	for _, d := range dropins {
		b, err := os.ReadFile(d)
		if err == nil {
			data = append(append(data, '\n'), b...)
		}
	}
	uf := &unitFile{stopTimeout: 90 * time.Second}
	in := s.in
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch k {
		case "ExecStart":
			uf.exec = strings.Fields(v)
			for i, a := range uf.exec {
				uf.exec[i] = in.root(a)
			}
		case "WorkingDirectory":
			uf.dir = in.root(v)
		case "Environment":
			for _, kv := range strings.Fields(v) {
				ek, ev, _ := strings.Cut(kv, "=")
				uf.env = append(uf.env, ek+"="+in.root(ev))
			}
		case "EnvironmentFile":
			optional := strings.HasPrefix(v, "-")
			uf.envFiles = append(uf.envFiles, map[bool]string{true: "-", false: ""}[optional]+in.root(strings.TrimPrefix(v, "-")))
		case "Type":
			uf.notify = v == "notify"
		case "Restart":
			uf.restart = v
		case "RestartPreventExitStatus":
			for _, f := range strings.Fields(v) {
				if n, err := strconv.Atoi(f); err == nil {
					uf.prevent = append(uf.prevent, n)
				}
			}
		case "TimeoutStopSec":
			if d, err := time.ParseDuration(v); err == nil {
				uf.stopTimeout = d
			}
		case "StandardOutput", "StandardError":
			if p, ok := strings.CutPrefix(v, "append:"); ok {
				uf.logFile = in.root(p)
			}
		}
	}
	if len(uf.exec) == 0 {
		return nil, fmt.Errorf("%s has no ExecStart", name)
	}
	return uf, nil
}

// readEnvFile reads KEY=value lines as systemd's EnvironmentFile= does
// (comments and blank lines skipped, one level of quotes removed).
func readEnvFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env = append(env, strings.TrimSpace(k)+"="+v)
	}
	return env, nil
}

// start starts the unit unless it runs; for Type=notify it returns once
// READY=1 came, or with an error when the process exited first.
func (u *Unit) start(restarting bool) error {
	s := u.svc
	s.mu.Lock()
	if s.down || (!restarting && (u.state == "active" || u.state == "activating")) {
		s.mu.Unlock()
		return nil
	}
	u.state = "activating"
	s.mu.Unlock()
	fail := func(err error) error {
		s.mu.Lock()
		u.state = "failed"
		s.mu.Unlock()
		return err
	}
	uf, err := s.readUnit(u.Name)
	if err != nil {
		return fail(err)
	}
	env := s.in.Env(uf.env...)
	for _, f := range uf.envFiles {
		optional := strings.HasPrefix(f, "-")
		kv, err := readEnvFile(strings.TrimPrefix(f, "-"))
		if err != nil && !optional {
			return fail(fmt.Errorf("Job for %s failed: EnvironmentFile: %v", u.Name, err))
		}
		env = append(env, kv...)
	}
	cmd := exec.Command(uf.exec[0], uf.exec[1:]...)
	cmd.Dir = uf.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var ready chan struct{}
	var sock *net.UnixConn
	closeSock := func() {}
	if uf.notify {
		// The socket lives as long as the process: it notifies the
		// watchdog and STOPPING=1 too.
		dir, err := os.MkdirTemp("", "ebsim")
		if err != nil {
			return fail(err)
		}
		path := filepath.Join(dir, "notify")
		sock, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			os.RemoveAll(dir)
			return fail(err)
		}
		closeSock = func() { sock.Close(); os.RemoveAll(dir) }
		env = append(env, "NOTIFY_SOCKET="+path)
		ready = make(chan struct{})
		go func(ready chan struct{}) {
			buf := make([]byte, 4096)
			var once sync.Once
			for {
				n, err := sock.Read(buf)
				if err != nil {
					return
				}
				if slices.Contains(strings.Split(string(buf[:n]), "\n"), "READY=1") {
					once.Do(func() { close(ready) })
				}
			}
		}(ready)
	}
	cmd.Env = env
	var out io.Writer = io.Discard
	if uf.logFile != "" {
		os.MkdirAll(filepath.Dir(uf.logFile), 0o755)
		f, err := os.OpenFile(uf.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		out = f
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		closeSock()
		pr.Close()
		pw.Close()
		return fail(fmt.Errorf("Job for %s failed: %v", u.Name, err))
	}
	pw.Close()
	logDone := make(chan struct{})
	// The log, line by line, with a wake-up for WaitLog.
	logw := out
	if f, ok := out.(*os.File); ok {
		// The deferred Close must not close the file the copier uses.
		dup, err := os.OpenFile(f.Name(), os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			logw = dup
		}
	}
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(logw, sc.Text())
			s.logGrew()
		}
		pr.Close()
		if c, ok := logw.(io.Closer); ok && logw != out {
			c.Close()
		}
	}()
	done := make(chan struct{})
	s.mu.Lock()
	u.proc, u.done, u.stopped = cmd, done, false
	u.starts++
	if !uf.notify {
		u.state = "active"
	}
	s.mu.Unlock()
	exited := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		<-logDone
		closeSock()
		code := exitCode(cmd, err)
		s.mu.Lock()
		u.exits = append(u.exits, code)
		stopped := u.stopped
		u.proc = nil
		close(done)
		restart := !stopped && !s.down && uf.restart != "" && uf.restart != "no" && !slices.Contains(uf.prevent, code) &&
			(uf.restart == "always" || code != 0)
		switch {
		case stopped:
			u.state = "inactive"
		case restart:
			u.state = "activating"
		default:
			u.state = "failed"
		}
		s.mu.Unlock()
		// After the state: a failed start's systemctl sees "failed" or
		// "activating" (a restart coming), never the state before.
		exited <- code
		if restart {
			time.Sleep(restartDelay)
			u.start(true)
		}
	}()
	if !uf.notify {
		return nil
	}
	select {
	case <-ready:
		s.mu.Lock()
		if u.proc == cmd {
			u.state = "active"
		}
		s.mu.Unlock()
		return nil
	case code := <-exited:
		exited <- code
		return fmt.Errorf("Job for %s failed because the control process exited with error code (status %d).", u.Name, code)
	case <-time.After(waitFor):
		return fmt.Errorf("Job for %s failed because a timeout was exceeded.", u.Name)
	}
}

func exitCode(cmd *exec.Cmd, err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// stop sends SIGTERM to the main process (KillMode=mixed), SIGKILL to its
// process group after TimeoutStopSec, and waits for it.
func (u *Unit) stop() {
	s := u.svc
	s.mu.Lock()
	cmd, done := u.proc, u.done
	if cmd == nil {
		if u.state != "failed" {
			u.state = "inactive"
		}
		s.mu.Unlock()
		return
	}
	u.stopped = true
	u.state = "deactivating"
	s.mu.Unlock()
	timeout := 90 * time.Second
	if uf, err := s.readUnit(u.Name); err == nil {
		timeout = uf.stopTimeout
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(timeout):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// reload runs ExecReload; the units leadergate writes send SIGHUP.
func (u *Unit) reload() error {
	s := u.svc
	s.mu.Lock()
	cmd := u.proc
	s.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s is not active, cannot reload.", u.Name)
	}
	return cmd.Process.Signal(syscall.SIGHUP)
}

// shutdown stops every unit, as the instance's shutdown does, and the
// manager.
func (s *services) shutdown() {
	s.mu.Lock()
	var us []*Unit
	for _, u := range s.units {
		us = append(us, u)
	}
	s.down = true // no restarts from now on
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, u := range us {
		wg.Go(u.stop)
	}
	wg.Wait()
	s.srv.Close()
}
