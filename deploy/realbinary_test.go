package deploy

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withRealBinary puts the real binary in the fixture's bundle in place of
// the fake one for this CPU: leadergate-linux-*, or with prefix
// "leadergate-metrics" the metrics variant's.
func withRealBinary(t *testing.T, f *fixture, bin string, prefix ...string) (arch string) {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	name := "leadergate"
	if len(prefix) > 0 {
		name = prefix[0]
	}
	f.write(f.bundle+"/.leadergate/"+name+"-linux-"+runtime.GOARCH, data, 0o755)
	if err := os.Remove(f.bundle + "/.leadergate/SHA256SUMS"); err != nil {
		t.Fatal(err)
	}
	if runtime.GOARCH == "arm64" {
		return "aarch64"
	}
	return "x86_64"
}

// TestInstallWithRealBinary runs install.sh with the real leadergate: the
// commands the script and the unit give it must be ones it accepts.
func TestInstallWithRealBinary(t *testing.T) {
	bin := buildHostBinary(t, "")

	t.Run("a crontab with an error fails the deployment", func(t *testing.T) {
		f := newFixture(t)
		arch := withRealBinary(t, f, bin)
		f.write(f.crontabPath, []byte("# jobs\n61 * * * * ./bin/report\n"), 0o644)
		f.mustFail([]string{"LEADERGATE_ARCH=" + arch}, "leader-jobs.cron:2", "leader-jobs.cron has errors")
		if _, err := os.Stat(f.root + "/usr/local/bin/leadergate"); err == nil {
			t.Error("the binary was installed although the deployment failed")
		}
	})

	t.Run("a crontab with a warning fails the deployment (--strict)", func(t *testing.T) {
		f := newFixture(t)
		arch := withRealBinary(t, f, bin)
		f.write(f.crontabPath, []byte("# tiemout: 5m\n*/5 * * * * ./bin/report\n"), 0o644)
		f.mustFail([]string{"LEADERGATE_ARCH=" + arch}, "leader-jobs.cron:1", "timeout", "leader-jobs.cron has errors or warnings")
	})

	t.Run("a root crontab is validated by the real binary too", func(t *testing.T) {
		f := newFixture(t)
		arch := withRealBinary(t, f, bin)
		f.write(f.bundle+"/leader-jobs.root.cron", []byte("61 3 * * * /usr/bin/certbot renew\n"), 0o644)
		_, stderr, err := f.run("LEADERGATE_ARCH=" + arch)
		if err == nil || !strings.Contains(stderr, "leader-jobs.root.cron:1") || !strings.Contains(stderr, "leader-jobs.root.cron has errors or warnings") {
			t.Errorf("install.sh with minute 61 in the root crontab: err %v, stderr:\n%s", err, stderr)
		}
	})

	t.Run("root validates the app user's crontab", func(t *testing.T) {
		// On Elastic Beanstalk the bundle belongs to webapp while the
		// deployment runs as root: the check must not refuse it for that.
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the crontab away")
		}
		f := newFixture(t)
		arch := withRealBinary(t, f, bin)
		f.write(f.crontabPath, []byte("*/5 * * * * ./bin/report\n"), 0o644)
		if err := os.Chown(f.crontabPath, 65534, 65534); err != nil {
			t.Skip(err)
		}
		f.mustRun("LEADERGATE_ARCH=" + arch)
	})

	t.Run("the unit's command starts and stops cleanly", func(t *testing.T) {
		f := newFixture(t)
		arch := withRealBinary(t, f, bin)
		f.mustRun("LEADERGATE_ARCH=" + arch)
		runUnit(t, f, nil, func(string) bool { return true })
	})

	t.Run("the default build cannot pass for the metrics binary", func(t *testing.T) {
		f := newFixture(t)
		arch := withRealBinary(t, f, bin, "leadergate-metrics")
		_, stderr, err := f.run("LEADERGATE_ARCH="+arch, "LEADERGATE_VARIANT=metrics")
		if err == nil || !strings.Contains(stderr, "leadergate-metrics-linux-"+runtime.GOARCH+" is not the build with metrics") || !strings.Contains(stderr, ", no metrics)") {
			t.Errorf("install.sh with the default build as the metrics binary: err %v, stderr:\n%s", err, stderr)
		}
		if _, err := os.Stat(f.root + "/usr/local/bin/leadergate"); err == nil {
			t.Error("the binary was installed although the deployment failed")
		}
	})

	t.Run("a configuration deployment asking the installed default build for metrics fails", func(t *testing.T) {
		f := newFixture(t)
		arch := withRealBinary(t, f, bin)
		f.mustRun("LEADERGATE_ARCH=" + arch)
		f.write(f.root+ebEnvFile, []byte("LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n"), 0o600)
		_, stderr, err := f.run("LEADERGATE_ARCH="+arch, "LEADERGATE_VARIANT=metrics")
		if err == nil || !strings.Contains(stderr, "/usr/local/bin/leadergate, installed from this application version before, has no metrics") {
			t.Errorf("err %v, stderr:\n%s", err, stderr)
		}
	})
}

// TestInstallMetricsVariantWithRealBinary installs the real metrics build
// with LEADERGATE_VARIANT=metrics and an environment file asking for
// metrics, and runs the unit's command: it serves them.
func TestInstallMetricsVariantWithRealBinary(t *testing.T) {
	bin := buildHostBinary(t, "metrics")
	f := newFixture(t)
	arch := withRealBinary(t, f, bin, "leadergate-metrics")
	f.write(f.root+ebEnvFile, []byte("LEADERGATE_METRICS_ADDR=127.0.0.1:0\n"), 0o600)
	if out := f.mustRun("LEADERGATE_ARCH="+arch, "LEADERGATE_VARIANT=metrics"); !strings.Contains(out, "with metrics") {
		t.Errorf("stdout:\n%s", out)
	}
	addr := regexp.MustCompile(`serving metrics.* addr=(127\.0\.0\.1:[0-9]+)`)
	served := false
	runUnit(t, f, []string{"LEADERGATE_METRICS_ADDR=127.0.0.1:0"}, func(l string) bool {
		m := addr.FindStringSubmatch(l)
		if m == nil {
			return false
		}
		code, body := get(t, "http://"+m[1]+"/metrics")
		if code != http.StatusOK || !strings.Contains(body, "leadergate_leader ") {
			t.Errorf("GET /metrics = %d:\n%s", code, body)
		}
		served = true
		return true
	})
	if !served {
		t.Error("the scheduler did not serve metrics")
	}
	// A configuration deployment keeps it: it has metrics.
	if out := f.mustRun("LEADERGATE_ARCH=" + arch); !strings.Contains(out, "kept /usr/local/bin/leadergate") {
		t.Errorf("stdout:\n%s", out)
	}
}

// runUnit runs the installed unit's ExecStart as systemd would, against the
// scratch root: its binary and crontab, a scratch state dir, env added, and
// no AWS (a follower runs no job). It reads its log until ready returns true
// for a line, then stops it with SIGTERM, which must exit 0, and returns
// the log.
func runUnit(t *testing.T, f *fixture, env []string, ready func(line string) bool) []string {
	t.Helper()
	unit, err := os.ReadFile(f.root + "/etc/systemd/system/leadergate.service")
	if err != nil {
		t.Fatal(err)
	}
	s := unitSettings(t, unit)
	if len(s["Service.ExecStart"]) != 1 {
		t.Fatalf("ExecStart = %q", s["Service.ExecStart"])
	}
	argv := strings.Fields(s["Service.ExecStart"][0])
	argv[0] = f.root + argv[0]
	argv[len(argv)-1] = f.root + argv[len(argv)-1] + ".next" // staged until the postdeploy hook
	state := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = f.bundle
	cmd.Env = append([]string{
		"PATH=/usr/bin:/bin",
		"LEADERGATE_STATE_DIR=" + state,
		"LEADERGATE_MARKER=" + filepath.Join(t.TempDir(), "leader-manager-is-leader"),
		"LEADERGATE_ASSUME=follower",
	}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first log line comes after the signal handlers are set:
	// from then on SIGTERM is a clean stop, not a kill.
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				err := cmd.Wait()
				t.Fatalf("%q exited before it was ready: %v\n%s", argv, err, strings.Join(log, "\n"))
			}
			log = append(log, l)
			done = ready(l)
		case <-ctx.Done():
			t.Fatalf("%q was not ready in 2 minutes:\n%s", argv, strings.Join(log, "\n"))
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		log = append(log, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("%q after SIGTERM: %v, want exit 0 (systemd would count a failure)\n%s", argv, err, strings.Join(log, "\n"))
	}
	return log
}
