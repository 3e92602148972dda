package deploy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fixture is a scratch instance: root is where install.sh writes (/ on an
// instance), bundle is the staged application (/var/app/staging) holding
// fake release binaries, and stubs holds a fake systemctl. The fakes append
// every call to log, so tests see what ran and in which order.
type fixture struct {
	t                          *testing.T
	root, bundle, stubs, log   string
	user, group                string
	uid, gid                   int
	amd64, arm64               []byte // the fake binaries' contents
	installScript, crontabPath string
}

// fakeBinary is a fake leadergate release binary: it records its name
// and arguments, and its version line names the build as a real one does.
const fakeBinary = `#!/bin/sh
# A fake leadergate release binary: records its name and arguments.
echo "%s $*" >>"$FAKE_LOG"
if [ "$1" = version ]; then
    echo "leadergate v0.0.0-test (go1 linux/amd64, %s)"
fi
if [ "$1" = schedule ] && [ "$2" = --check ] && [ -n "${FAKE_CHECK_FAIL:-}" ]; then
    echo "$4:2: bad minute field \"61\"" >&2
    exit 65
fi
exit 0
`

// fakeRelease is the fake release binary called name: the build with
// metrics when the name says so.
func fakeRelease(name string) []byte {
	build := "no metrics"
	if strings.HasPrefix(name, "leadergate-metrics-") {
		build = "metrics"
	}
	return []byte(fmt.Sprintf(fakeBinary, name, build))
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		t:      t,
		root:   filepath.Join(dir, "root"),
		bundle: filepath.Join(dir, "staging"),
		stubs:  filepath.Join(dir, "stubs"),
		log:    filepath.Join(dir, "calls.log"),
		amd64:  fakeRelease("leadergate-linux-amd64"),
		arm64:  fakeRelease("leadergate-linux-arm64"),
	}
	var err error
	if f.installScript, err = filepath.Abs(installScript); err != nil {
		t.Fatal(err)
	}
	// As root, install for another user than the one running the test, so
	// the ownership checks mean something.
	name := "nobody"
	if os.Geteuid() != 0 {
		cur, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		name = cur.Username
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no user %s to install for: %v", name, err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	f.user, f.group = u.Username, g.Name
	f.uid, _ = strconv.Atoi(u.Uid)
	f.gid, _ = strconv.Atoi(u.Gid)

	f.write(f.bundle+"/.leadergate/leadergate-linux-amd64", f.amd64, 0o755)
	f.write(f.bundle+"/.leadergate/leadergate-linux-arm64", f.arm64, 0o755)
	f.write(f.bundle+"/.leadergate/SHA256SUMS", []byte(fmt.Sprintf("%x  leadergate-linux-amd64\n%x  leadergate-linux-arm64\n",
		sha256.Sum256(f.amd64), sha256.Sum256(f.arm64))), 0o644)
	f.crontabPath = f.bundle + "/leader-jobs.cron"
	// Group-writable, as an archive made elsewhere may carry it.
	f.write(f.crontabPath, []byte("*/5 * * * * ./bin/send-reminders\n"), 0o664)
	f.write(f.stubs+"/systemctl", []byte("#!/bin/sh\necho \"systemctl $*\" >>\"$FAKE_LOG\"\n"), 0o755)
	// What Elastic Beanstalk writes before the deployment's commands run.
	f.write(f.root+ebEnvFile, []byte("DB_PASSWORD=secret\n"), 0o600)
	return f
}

// ebEnvFile is where Elastic Beanstalk writes the environment properties.
const ebEnvFile = "/opt/elasticbeanstalk/deployment/env"

func (f *fixture) write(path string, data []byte, mode os.FileMode) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is masked by umask
		f.t.Fatal(err)
	}
}

// run executes install.sh as Elastic Beanstalk does (the script itself, in
// the staged bundle) with the fixture's root and the given settings.
func (f *fixture) run(settings ...string) (stdout, stderr string, err error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.installScript)
	cmd.Dir = f.bundle
	// Nothing from the caller's LEADERGATE_* may leak in.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LEADERGATE_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "FAKE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"PATH="+f.stubs+":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"LEADERGATE_ROOT="+f.root,
		"LEADERGATE_USER="+f.user,
		"LEADERGATE_ARCH=x86_64",
		"FAKE_LOG="+f.log,
	)
	cmd.Env = append(cmd.Env, settings...) // later entries win
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		f.t.Fatalf("install.sh did not finish in 60s")
	}
	return out.String(), errb.String(), err
}

func (f *fixture) mustRun(settings ...string) string {
	f.t.Helper()
	out, errs, err := f.run(settings...)
	if err != nil {
		f.t.Fatalf("install.sh %v: %v\nstdout:\n%s\nstderr:\n%s", settings, err, out, errs)
	}
	if errs != "" {
		f.t.Errorf("install.sh succeeded but wrote to stderr:\n%s", errs)
	}
	return out
}

// calls returns the fakes' log: one line per call.
func (f *fixture) calls() []string {
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// expectFile checks mode and owner of root+path and returns its contents
// (nil for a directory).
func (f *fixture) expectFile(path string, mode os.FileMode, dir bool) []byte {
	f.t.Helper()
	fi, err := os.Stat(f.root + path)
	if err != nil {
		f.t.Errorf("%s was not installed: %v", path, err)
		return nil
	}
	if fi.IsDir() != dir {
		f.t.Errorf("%s: directory = %v, want %v", path, fi.IsDir(), dir)
	}
	if got := fi.Mode().Perm(); got != mode {
		f.t.Errorf("%s mode = %04o, want %04o", path, got, mode)
	}
	if dir {
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != f.uid || int(st.Gid) != f.gid {
			f.t.Errorf("%s owned by %d:%d, want %s:%s (%d:%d): leadergate runs as %s", path, st.Uid, st.Gid, f.user, f.group, f.uid, f.gid, f.user)
		}
		return nil
	}
	b, err := os.ReadFile(f.root + path)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// expectOwner checks the owner of root+path.
// mustFail runs install.sh with settings, which must fail the deployment
// with a stderr naming each of wants, and returns that stderr.
func (f *fixture) mustFail(settings []string, wants ...string) string {
	f.t.Helper()
	_, stderr, err := f.run(settings...)
	if err == nil {
		f.t.Fatal("install.sh succeeded, want a failed deployment")
	}
	for _, want := range wants {
		if !strings.Contains(stderr, want) {
			f.t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	return stderr
}

// expectNothingInstalled: a failed install kept the binary installed
// before it (old), left no temporary file and wrote no unit.
func (f *fixture) expectNothingInstalled(old string) {
	f.t.Helper()
	if bin, _ := os.ReadFile(f.root + "/usr/local/bin/leadergate"); string(bin) != old {
		f.t.Errorf("a failed install replaced the installed binary with:\n%s", bin)
	}
	if m, _ := filepath.Glob(f.root + "/usr/local/bin/*.new.*"); len(m) > 0 {
		f.t.Errorf("temporary files left behind: %v", m)
	}
	if _, err := os.Stat(f.root + "/etc/systemd/system/leadergate.service"); err == nil {
		f.t.Error("a failed install wrote the unit")
	}
}

func (f *fixture) expectOwner(path string, uid, gid int) {
	f.t.Helper()
	fi, err := os.Stat(f.root + path)
	if err != nil {
		f.t.Errorf("%s: %v", path, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid {
		f.t.Errorf("%s owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, gid)
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// unitSettings reads a systemd unit into section.Key -> values.
func unitSettings(t *testing.T, unit []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(unit)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Errorf("unit line %q is not Key=Value", l)
				continue
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func TestInstallService(t *testing.T) {
	f := newFixture(t)
	// A legacy marker directory left by the leader manager, owned by root,
	// and a state directory anyone can write: both must be fixed.
	if err := os.MkdirAll(f.root+"/var/app/leader", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.root+"/var/lib/leadergate", 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.root+"/var/lib/leadergate", 0o777); err != nil {
		t.Fatal(err)
	}
	out := f.mustRun("LEADERGATE_ARCH=aarch64")
	if !strings.Contains(out, "installed /usr/local/bin/leadergate (arm64)") {
		t.Errorf("install.sh does not say what it installed; stdout:\n%s", out)
	}

	// The binary for this CPU, executable by all, replaced atomically.
	if bin := f.expectFile("/usr/local/bin/leadergate", 0o755, false); string(bin) != string(f.arm64) {
		t.Errorf("aarch64 instance got the wrong binary:\n%s", bin)
	}
	if m, _ := filepath.Glob(f.root + "/usr/local/bin/*.new.*"); len(m) > 0 {
		t.Errorf("temporary files left behind: %v", m)
	}
	f.expectFile("/var/app/leader", 0o755, true)
	f.expectFile("/var/lib/leadergate", 0o700, true)

	// The crontab was validated, then moved out of the bundle (the web
	// server may serve /var/app/current) to a root-owned file only the
	// jobs' group can read, staged until the postdeploy hook.
	calls := f.calls()
	if _, err := os.Stat(f.crontabPath); err == nil {
		t.Error("leader-jobs.cron was left in the bundle, which may be the web server's document root")
	}
	if _, err := os.Stat(f.bundle + "/.leadergate"); err == nil {
		t.Error(".leadergate/ (the binaries) was left in the bundle, which may be the web server's document root")
	}
	staged := f.expectFile("/etc/leadergate/leader-jobs.cron.next", 0o640, false)
	if string(staged) != "*/5 * * * * ./bin/send-reminders\n" {
		t.Errorf("staged crontab = %q", staged)
	}
	f.expectOwner("/etc/leadergate/leader-jobs.cron.next", 0, f.gid)
	if !contains(calls, "leadergate-linux-arm64 version") {
		t.Errorf("the new binary was not tried before being installed; calls: %q", calls)
	}
	if !contains(calls, "leadergate-linux-arm64 schedule --check --strict "+f.crontabPath) {
		t.Errorf("the crontab was not validated; calls: %q", calls)
	}

	// The unit.
	unit := f.expectFile("/etc/systemd/system/leadergate.service", 0o644, false)
	s := unitSettings(t, unit)
	want := map[string]string{
		"Service.User":               f.user,
		"Service.Group":              f.group,
		"Service.WorkingDirectory":   "/var/app/current",
		"Service.ExecStart":          "/usr/local/bin/leadergate schedule --grace 30s /etc/leadergate/leader-jobs.cron",
		"Service.ExecReload":         "/bin/kill -HUP $MAINPID",
		"Service.Restart":            "always",
		"Service.Type":               "notify",
		"Service.WatchdogSec":        "60s",
		"Service.KillMode":           "mixed",
		"Service.TimeoutStopSec":     "45s",
		"Service.EnvironmentFile":    ebEnvFile, // required: no "-"
		"Service.StandardOutput":     "append:/var/log/leadergate/leadergate.log",
		"Service.StandardError":      "append:/var/log/leadergate/leadergate.log",
		"Install.WantedBy":           "multi-user.target",
		"Service.SyslogIdentifier":   "leadergate",
		"Unit.StartLimitIntervalSec": "0",
	}
	for k, v := range want {
		if got := s[k]; len(got) != 1 || got[0] != v {
			t.Errorf("unit %s = %q, want %q", k, got, v)
		}
	}
	for _, env := range []string{
		"LEADERGATE_STATE_DIR=/var/lib/leadergate",
		"LEADERGATE_MARKER=/var/app/leader/leader-manager-is-leader",
	} {
		if !contains(s["Service.Environment"], env) {
			t.Errorf("unit lacks Environment=%s; has %q", env, s["Service.Environment"])
		}
	}
	verifyUnit(t, f)

	// Offline enable only: no daemon-reload or restart against the host's
	// systemd when installing under a root.
	if !contains(calls, "systemctl --root="+f.root+" enable leadergate.service") {
		t.Errorf("the unit was not enabled; calls: %q", calls)
	}
	for _, c := range calls {
		if strings.HasPrefix(c, "systemctl") && !strings.Contains(c, "--root="+f.root) {
			t.Errorf("install under LEADERGATE_ROOT called the host's systemd: %q", c)
		}
	}

	// The hooks restart the service after the first deployment, then only
	// reload it while the binary, the unit and the environment file stay
	// the same.
	runHook := func(kind string) []string {
		t.Helper()
		hook := f.bundle + "/.platform/" + kind + "/postdeploy/99_leadergate.sh"
		before := len(f.calls())
		cmd := exec.Command(hook)
		cmd.Env = []string{"PATH=" + f.stubs + ":/usr/bin:/bin", "FAKE_LOG=" + f.log}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", hook, err, out)
		}
		return f.calls()[before:]
	}
	const restart, reload = "systemctl restart leadergate.service", "systemctl reload-or-restart leadergate.service"
	for i, kind := range []string{"hooks", "confighooks"} {
		hook := f.bundle + "/.platform/" + kind + "/postdeploy/99_leadergate.sh"
		fi, err := os.Stat(hook)
		if err != nil {
			t.Errorf("no %s postdeploy hook: %v", kind, err)
			continue
		}
		if fi.Mode().Perm()&0o100 == 0 {
			t.Errorf("%s is not executable: Elastic Beanstalk would skip it", hook)
		}
		want := reload
		if i == 0 {
			want = restart
		}
		if got := runHook(kind); len(got) != 1 || got[0] != want {
			t.Errorf("%s ran %q, want %s", hook, got, want)
		}
	}
	// New environment properties (a configuration deployment): restart.
	f.write(f.root+ebEnvFile, []byte("DB_PASSWORD=rotated\n"), 0o600)
	if got := runHook("confighooks"); len(got) != 1 || got[0] != restart {
		t.Errorf("after an environment change the hook ran %q, want %s", got, restart)
	}
	// Same binary, new crontab: reload; new binary: restart.
	f.write(f.crontabPath, []byte("*/10 * * * * ./bin/send-reminders\n"), 0o644)
	f.mustRun()
	if got := runHook("hooks"); len(got) != 1 || got[0] != reload {
		t.Errorf("same binary, new crontab: the hook ran %q, want %s", got, reload)
	}
	f.write(f.bundle+"/.leadergate/leadergate-linux-amd64", append(append([]byte(nil), f.amd64...), "# v2\n"...), 0o755)
	f.write(f.crontabPath, []byte("*/10 * * * * ./bin/send-reminders\n"), 0o644)
	f.mustRun()
	if got := runHook("hooks"); len(got) != 1 || got[0] != restart {
		t.Errorf("new binary: the hook ran %q, want %s", got, restart)
	}
	// A drop-in from an .ebextensions files: section: restart.
	f.write(f.root+"/etc/systemd/system/leadergate.service.d/umask.conf", []byte("[Service]\nUMask=0022\n"), 0o644)
	f.write(f.crontabPath, []byte("*/10 * * * * ./bin/send-reminders\n"), 0o644)
	f.mustRun()
	if got := runHook("hooks"); len(got) != 1 || got[0] != restart {
		t.Errorf("new drop-in: the hook ran %q, want %s", got, restart)
	}
}

// verifyUnit asks systemd-analyze, when present, whether systemd accepts the
// unit: unknown keys and bad values are reported as warnings on stderr.
func verifyUnit(t *testing.T, f *fixture) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit syntax checked by this test only")
		return
	}
	// verify needs the binary at its real path: check a copy whose
	// ExecStart points into the scratch root.
	unit, err := os.ReadFile(f.root + "/etc/systemd/system/leadergate.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "leadergate.service")
	text := strings.ReplaceAll(string(unit), "=/usr/local/bin/leadergate", "="+f.root+"/usr/local/bin/leadergate")
	// systemd warns about the test's user (nobody); the real one, webapp,
	// does not exist here.
	text = strings.ReplaceAll(text, "User="+f.user+"\n", "User=root\n")
	text = strings.ReplaceAll(text, "Group="+f.group+"\n", "Group=root\n")
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sa, "verify", "--man=no", copyPath).CombinedOutput()
	// Lines about the unit's own settings name its file; anything else
	// (no running systemd in a container, missing system units) is about
	// the machine, not the unit.
	var problems []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "leadergate.service") {
			problems = append(problems, l)
		}
	}
	if len(problems) > 0 {
		t.Errorf("systemd-analyze verify (%v):\n%s", err, strings.Join(problems, "\n"))
	} else if err != nil {
		t.Logf("systemd-analyze verify failed for reasons outside the unit (%v):\n%s", err, out)
	}
}

func TestInstallPicksBinaryForCPU(t *testing.T) {
	for _, tc := range []struct {
		arch string
		want string
	}{
		{"x86_64", "amd64"},
		{"aarch64", "arm64"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			f := newFixture(t)
			f.mustRun("LEADERGATE_ARCH=" + tc.arch)
			bin := f.expectFile("/usr/local/bin/leadergate", 0o755, false)
			if !strings.Contains(string(bin), "leadergate-linux-"+tc.want+" ") {
				t.Errorf("uname -m %s installed:\n%s\nwant leadergate-linux-%s", tc.arch, bin, tc.want)
			}
		})
	}
}

func TestInstallTwiceReplacesBinary(t *testing.T) {
	f := newFixture(t)
	f.mustRun()
	newer := append([]byte(nil), f.amd64...)
	newer = append(newer, "# v2\n"...)
	// The next deployment's bundle, without the optional SHA256SUMS.
	f.write(f.bundle+"/.leadergate/leadergate-linux-amd64", newer, 0o755)
	f.write(f.crontabPath, []byte("*/5 * * * * ./bin/send-reminders\n"), 0o644)
	f.mustRun()
	if bin := f.expectFile("/usr/local/bin/leadergate", 0o755, false); string(bin) != string(newer) {
		t.Errorf("second deployment did not replace the binary:\n%s", bin)
	}
	f.expectFile("/var/lib/leadergate", 0o700, true)
}

// A failed install must leave the running version alone and say why in one
// line that names the fix.
func TestInstallFailures(t *testing.T) {
	const oldBinary = "#!/bin/sh\n# the version already installed\n"
	for _, tc := range []struct {
		name     string
		prepare  func(f *fixture)
		settings []string
		stderr   []string // substrings of the one error line
	}{
		{
			name:     "unsupported CPU",
			settings: []string{"LEADERGATE_ARCH=riscv64"},
			stderr:   []string{"riscv64", "x86_64 or arm64"},
		},
		{
			name:    "binary missing from the bundle",
			prepare: func(f *fixture) { os.Remove(f.bundle + "/.leadergate/leadergate-linux-amd64") },
			stderr:  []string{"leadergate-linux-amd64 not found", "make dist", ".leadergate/"},
		},
		{
			name: "binary does not match SHA256SUMS",
			prepare: func(f *fixture) {
				f.write(f.bundle+"/.leadergate/leadergate-linux-amd64", f.amd64[:len(f.amd64)/2], 0o755)
			},
			stderr: []string{"does not match", "SHA256SUMS"},
		},
		{
			name: "SHA256SUMS lacks the binary",
			prepare: func(f *fixture) {
				f.write(f.bundle+"/.leadergate/SHA256SUMS", []byte(fmt.Sprintf("%x  leadergate-linux-arm64\n", sha256.Sum256(f.arm64))), 0o644)
			},
			stderr: []string{"no line for leadergate-linux-amd64"},
		},
		{
			name:     "crontab has errors",
			settings: []string{"FAKE_CHECK_FAIL=1"},
			stderr:   []string{`leader-jobs.cron:2: bad minute field "61"`, "leader-jobs.cron has errors or warnings", "fix them"},
		},
		{
			name:    "crontab missing",
			prepare: func(f *fixture) { os.Remove(f.crontabPath) },
			stderr:  []string{"leader-jobs.cron not found", "leadergate-cron.config.example"},
		},
		{
			name:     "no such user",
			settings: []string{"LEADERGATE_USER=no-such-user-leadergate"},
			stderr:   []string{"user no-such-user-leadergate does not exist", "LEADERGATE_USER"},
		},
		{
			name:     "bad mode",
			settings: []string{"LEADERGATE_MODE=cronjob"},
			stderr:   []string{"LEADERGATE_MODE=cronjob", "service or cron"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.write(f.root+"/usr/local/bin/leadergate", []byte(oldBinary), 0o755)
			if tc.prepare != nil {
				tc.prepare(f)
			}
			f.mustFail(tc.settings, tc.stderr...)
			f.expectNothingInstalled(oldBinary)
		})
	}
}

func TestInstallCronMode(t *testing.T) {
	f := newFixture(t)
	f.mustRun() // the service variant first, then a switch to cron lines
	// The next bundle: binaries, no crontab.
	f.write(f.bundle+"/.leadergate/leadergate-linux-amd64", f.amd64, 0o755)
	before := len(f.calls())
	out := f.mustRun("LEADERGATE_MODE=cron")
	if !strings.Contains(out, "for cron lines") {
		t.Errorf("stdout:\n%s", out)
	}
	f.expectFile("/usr/local/bin/leadergate", 0o755, false)
	f.expectFile("/var/app/leader", 0o755, true)
	f.expectFile("/var/lib/leadergate", 0o700, true)
	if _, err := os.Stat(f.root + "/etc/systemd/system/leadergate.service"); err == nil {
		t.Error("cron mode left leadergate.service: jobs would run from both")
	}
	calls := f.calls()[before:]
	if !contains(calls, "systemctl --root="+f.root+" disable leadergate.service") {
		t.Errorf("the service was not disabled; calls: %q", calls)
	}
	if contains(calls, "systemctl --root="+f.root+" enable leadergate.service") {
		t.Errorf("cron mode enabled the service; calls: %q", calls)
	}
	for _, c := range calls {
		if strings.Contains(c, "schedule --check") {
			t.Errorf("cron mode validated a crontab it does not use: %q", c)
		}
	}
	if !contains(calls, "leadergate-linux-amd64 version") {
		t.Errorf("the new binary was not tried; calls: %q", calls)
	}
}

func TestShellcheckHooks(t *testing.T) {
	f := newFixture(t)
	f.mustRun()
	for _, kind := range []string{"hooks", "confighooks"} {
		shellcheck(t, kind+"/postdeploy/99_leadergate.sh", f.bundle+"/.platform/"+kind+"/postdeploy/99_leadergate.sh")
	}
}

// A configuration deployment may run the container commands again on the
// live application, whose binaries and crontabs the first run moved out:
// the install keeps what is installed instead of failing for them.
func TestInstallAgainOnAnInstalledBundle(t *testing.T) {
	f := newFixture(t)
	f.write(f.bundle+"/leader-jobs.root.cron", []byte("0 3 * * * /usr/bin/certbot renew\n"), 0o644)
	f.mustRun()
	// What the postdeploy hook does on the instance.
	for _, tab := range []string{"leader-jobs.cron", "leader-jobs.root.cron"} {
		if err := os.Rename(f.root+"/etc/leadergate/"+tab+".next", f.root+"/etc/leadergate/"+tab); err != nil {
			t.Fatal(err)
		}
	}
	bin := f.expectFile("/usr/local/bin/leadergate", 0o755, false)
	out := f.mustRun()
	if !strings.Contains(out, "kept /usr/local/bin/leadergate") {
		t.Errorf("stdout:\n%s", out)
	}
	if got := f.expectFile("/usr/local/bin/leadergate", 0o755, false); string(got) != string(bin) {
		t.Error("the binary changed")
	}
	for _, p := range []string{"/etc/leadergate/leader-jobs.cron", "/etc/leadergate/leader-jobs.root.cron", "/etc/systemd/system/leadergate.service", "/etc/systemd/system/leadergate-root.service"} {
		if _, err := os.Stat(f.root + p); err != nil {
			t.Errorf("%s is gone after the second run: %v", p, err)
		}
	}

	// The stamp alone does not pass for an install: without the binary
	// in place the bundle must carry it.
	g := newFixture(t)
	if err := os.RemoveAll(g.bundle + "/.leadergate"); err != nil {
		t.Fatal(err)
	}
	g.write(g.bundle+"/.leadergate-installed", []byte("x\n"), 0o644)
	if _, stderr, err := g.run(); err == nil || !strings.Contains(stderr, "leadergate-linux-amd64 not found") {
		t.Errorf("install with a stamp and no installed binary: err %v, stderr %s", err, stderr)
	}
}

// A crontab elsewhere in the bundle (LEADERGATE_CRONTAB) is installed under
// the one name the unit reads.
func TestInstallCrontabFromASubdirectory(t *testing.T) {
	f := newFixture(t)
	f.write(f.bundle+"/config/jobs.cron", []byte("0 4 * * * ./bin/cleanup\n"), 0o644)
	f.mustRun("LEADERGATE_CRONTAB=config/jobs.cron")
	if got := f.expectFile("/etc/leadergate/leader-jobs.cron.next", 0o640, false); string(got) != "0 4 * * * ./bin/cleanup\n" {
		t.Errorf("staged crontab = %q", got)
	}
	s := unitSettings(t, f.expectFile("/etc/systemd/system/leadergate.service", 0o644, false))
	if got := s["Service.ExecStart"]; len(got) != 1 || !strings.HasSuffix(got[0], " /etc/leadergate/leader-jobs.cron") {
		t.Errorf("ExecStart = %q", got)
	}
}

// On Amazon Linux 2, systemd 219 ignores StandardOutput=append:, so the
// promised log file would stay empty: there the unit logs to the journal
// and the scheduler appends to the file itself (--log-file), which the
// install creates for the service's user.
func TestInstallOnSystemd219LogsThroughLogFile(t *testing.T) {
	f := newFixture(t)
	f.write(f.stubs+"/systemctl", []byte("#!/bin/sh\necho \"systemctl $*\" >>\"$FAKE_LOG\"\n"+
		"case \"$*\" in *--version*) echo 'systemd 219'; echo '+PAM +AUDIT +SELINUX';; esac\n"), 0o755)
	f.mustRun()
	s := unitSettings(t, f.expectFile("/etc/systemd/system/leadergate.service", 0o644, false))
	for k, v := range map[string]string{
		"Service.ExecStart":      "/usr/local/bin/leadergate schedule --grace 30s --log-file /var/log/leadergate/leadergate.log /etc/leadergate/leader-jobs.cron",
		"Service.StandardOutput": "journal",
		"Service.StandardError":  "journal",
	} {
		if got := s[k]; len(got) != 1 || got[0] != v {
			t.Errorf("unit %s = %q, want %q", k, got, v)
		}
	}
	f.expectFile("/var/log/leadergate/leadergate.log", 0o640, false)
	f.expectOwner("/var/log/leadergate/leadergate.log", f.uid, f.gid)
}
