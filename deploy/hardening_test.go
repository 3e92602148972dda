package deploy

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxExposure is the highest `systemd-analyze security` exposure the
// application user's unit may have (0 is best, 10 worst; systemd calls up
// to 5.0 "OK" or better).
const maxExposure = 5.0

// ebDoc is the Elastic Beanstalk guide, which quotes the measured figures.
const ebDoc = "../docs/elastic-beanstalk.md"

// systemdAnalyze returns the path of systemd-analyze, or skips the test
// when it is missing, unless LEADERGATE_REQUIRE_SYSTEMD=1 (CI).
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		msg := "systemd-analyze is not installed (apt-get install systemd): the unit's hardening is not measured"
		if os.Getenv("LEADERGATE_REQUIRE_SYSTEMD") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return sa
}

// exposure measures a unit the way an operator would, with
// `systemd-analyze security --offline=yes`, and returns the overall
// figure and the per-setting report.
func exposure(t *testing.T, unitPath string) (float64, string) {
	t.Helper()
	sa := systemdAnalyze(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The file must carry the unit's name: the report is per unit.
	dir := t.TempDir()
	copyPath := filepath.Join(dir, filepath.Base(unitPath))
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, sa, "security", "--offline=yes", "--no-pager", copyPath).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v, string(out)
}

// The application user's unit: systemd itself rates it, and the guide
// quotes the figure this test measures.
func TestUnitExposure(t *testing.T) {
	f := newFixture(t)
	f.mustRun()
	unit := f.root + "/etc/systemd/system/leadergate.service"
	// Rate it with the user it has on Elastic Beanstalk: the test's user
	// (nobody, or whoever runs the test) would be scored as such.
	text := strings.ReplaceAll(string(f.expectFile("/etc/systemd/system/leadergate.service", 0o644, false)), "User="+f.user+"\n", "User=webapp\n")
	text = strings.ReplaceAll(text, "Group="+f.group+"\n", "Group=webapp\n")
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, report := exposure(t, unit)
	t.Logf("leadergate.service exposure %.1f", got)
	if got > maxExposure {
		t.Errorf("leadergate.service exposure %.1f, want <= %.1f:\n%s", got, maxExposure, report)
	}
	for _, path := range []string{ebDoc, "../README.md"} {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if quoted := strconv.FormatFloat(got, 'f', 1, 64); !strings.Contains(string(doc), "exposure "+quoted) {
			t.Errorf("%s does not quote the measured exposure: want the words \"exposure %s\"", path, quoted)
		}
	}
}

// Every restriction in the unit has its one-line reason above it, and the
// guide names it for the operators whose jobs it affects.
func TestUnitRestrictionsExplained(t *testing.T) {
	f := newFixture(t)
	f.mustRun("LEADERGATE_ARCH=x86_64")
	doc, err := os.ReadFile(ebDoc)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(f.expectFile("/etc/systemd/system/leadergate.service", 0o644, false))
	restriction := regexp.MustCompile(`^(NoNewPrivileges|Protect\w+|Private\w+|Restrict\w+|LockPersonality|SystemCallArchitectures|CapabilityBoundingSet|AmbientCapabilities|UMask)=`)
	lines := strings.Split(unit, "\n")
	n := 0
	for i, l := range lines {
		m := restriction.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n++
		if i == 0 || !strings.HasPrefix(lines[i-1], "# ") && !restriction.MatchString(lines[i-1]) {
			t.Errorf("%q has no one-line reason above it", l)
		}
		if !strings.Contains(string(doc), "`"+m[1]+"=") {
			t.Errorf("%s does not name %s= for the jobs it restricts", ebDoc, m[1])
		}
	}
	if n < 15 {
		t.Errorf("only %d restrictions in the unit:\n%s", n, unit)
	}
}

func TestInstallRequiresEnvironmentFile(t *testing.T) {
	t.Run("missing: the deployment fails", func(t *testing.T) {
		f := newFixture(t)
		if err := os.Remove(f.root + ebEnvFile); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := f.run()
		if err == nil {
			t.Fatal("install.sh succeeded without the environment file: jobs would run without their settings")
		}
		if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 ||
			!strings.Contains(stderr, ebEnvFile+" not found") || !strings.Contains(stderr, "LEADERGATE_ENV_FILE") {
			t.Errorf("want one line naming the file and the setting, got:\n%s", stderr)
		}
		if _, err := os.Stat(f.root + "/etc/systemd/system/leadergate.service"); err == nil {
			t.Error("the unit was written")
		}
	})
	t.Run("cron mode does not need it", func(t *testing.T) {
		f := newFixture(t)
		if err := os.Remove(f.root + ebEnvFile); err != nil {
			t.Fatal(err)
		}
		f.mustRun("LEADERGATE_MODE=cron")
	})
	t.Run("set empty: no environment file, on purpose", func(t *testing.T) {
		f := newFixture(t)
		if err := os.Remove(f.root + ebEnvFile); err != nil {
			t.Fatal(err)
		}
		f.mustRun("LEADERGATE_ENV_FILE=")
		s := unitSettings(t, f.expectFile("/etc/systemd/system/leadergate.service", 0o644, false))
		if got := s["Service.EnvironmentFile"]; len(got) != 0 {
			t.Errorf("EnvironmentFile = %q, want none", got)
		}
	})
}

// The log file is where the unit writes, and Elastic Beanstalk's log tasks
// and the CloudWatch agent's configuration name that same file.
func TestLogRegistration(t *testing.T) {
	f := newFixture(t)
	f.write(f.bundle+"/leader-jobs.root.cron", []byte("0 3 * * * /usr/bin/certbot renew\n"), 0o644)
	f.mustRun()
	var logs []string
	for _, unit := range []string{"leadergate.service", "leadergate-root.service"} {
		s := unitSettings(t, f.expectFile("/etc/systemd/system/"+unit, 0o644, false))
		out, errs := s["Service.StandardOutput"], s["Service.StandardError"]
		if len(errs) != 1 || !strings.HasPrefix(errs[0], "append:/var/log/leadergate/") || len(out) != 1 || out[0] != errs[0] {
			t.Errorf("%s: StandardOutput %q, StandardError %q, want both append:/var/log/leadergate/...", unit, out, errs)
			continue
		}
		logs = append(logs, strings.TrimPrefix(errs[0], "append:"))
	}
	f.expectDir("/var/log/leadergate", 0o750, 0, f.gid)

	// eb logs (tail and bundle): the files, by a pattern that matches them.
	for _, task := range []string{"taillogs", "bundlelogs"} {
		conf := strings.TrimSpace(string(f.expectFile("/opt/elasticbeanstalk/tasks/"+task+".d/leadergate.conf", 0o644, false)))
		for _, l := range logs {
			if ok, _ := filepath.Match(conf, l); !ok {
				t.Errorf("%s.d/leadergate.conf = %q does not cover %s", task, conf, l)
			}
		}
	}
	// Rotated logs uploaded to S3: what logrotate leaves behind.
	pub := strings.TrimSpace(string(f.expectFile("/opt/elasticbeanstalk/tasks/publishlogs.d/leadergate.conf", 0o644, false)))
	if ok, _ := filepath.Match(pub, "/var/log/leadergate/leadergate.log-20261201-1764547200.gz"); !ok {
		t.Errorf("publishlogs.d/leadergate.conf = %q does not cover a rotated file", pub)
	}
	rotate := string(f.expectFile("/etc/logrotate.d/leadergate", 0o644, false))
	for _, want := range []string{"/var/log/leadergate/*.log {", "copytruncate", "compress", "dateext"} {
		if !strings.Contains(rotate, want) {
			t.Errorf("/etc/logrotate.d/leadergate lacks %q:\n%s", want, rotate)
		}
	}
	if lr, err := exec.LookPath("logrotate"); err == nil {
		// Debug mode parses the configuration and changes nothing.
		conf := filepath.Join(t.TempDir(), "leadergate")
		if err := os.WriteFile(conf, []byte(rotate), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(lr, "-d", "-s", filepath.Join(t.TempDir(), "state"), conf).CombinedOutput(); err != nil || strings.Contains(string(out), "error") {
			t.Errorf("logrotate -d: %v\n%s", err, out)
		}
	}

	// CloudWatch Logs streaming: the agent configuration lists each file,
	// in Elastic Beanstalk's log group naming.
	doc := parseYAML(t, serviceConfig)
	agent, _ := dig(doc, "files", "/opt/aws/amazon-cloudwatch-agent/etc/leadergate.json", "content").(string)
	// The Ref is resolved by Elastic Beanstalk; stand in a name to parse.
	agent = regexp.MustCompile("`[^`]*`").ReplaceAllString(agent, "/aws/elasticbeanstalk/my-env/LOG")
	var cw struct {
		Logs struct {
			LogsCollected struct {
				Files struct {
					CollectList []struct {
						FilePath      string `json:"file_path"`
						LogGroupName  string `json:"log_group_name"`
						LogStreamName string `json:"log_stream_name"`
					} `json:"collect_list"`
				} `json:"files"`
			} `json:"logs_collected"`
		} `json:"logs"`
	}
	if err := json.Unmarshal([]byte(agent), &cw); err != nil {
		t.Fatalf("the CloudWatch agent configuration is not JSON: %v\n%s", err, agent)
	}
	got := map[string]bool{}
	for _, c := range cw.Logs.LogsCollected.Files.CollectList {
		got[c.FilePath] = true
		if c.LogStreamName != "{instance_id}" {
			t.Errorf("%s streams to %q, want {instance_id}", c.FilePath, c.LogStreamName)
		}
	}
	for _, l := range logs {
		if !got[l] {
			t.Errorf("the CloudWatch agent configuration does not stream %s", l)
		}
	}
	raw, _ := dig(doc, "files", "/opt/aws/amazon-cloudwatch-agent/etc/leadergate.json", "content").(string)
	for _, l := range logs {
		if !strings.Contains(raw, `"/aws/elasticbeanstalk", {"Ref":"AWSEBEnvironmentName"}, "`+strings.TrimPrefix(l, "/")+`"`) {
			t.Errorf("%s: log group is not /aws/elasticbeanstalk/<environment>%s", l, l)
		}
	}

	// The hooks add it to the agent; the hook's shell must be sound.
	hook, err := os.ReadFile(f.bundle + "/.platform/hooks/postdeploy/99_leadergate.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hook), "append-config") || !strings.Contains(string(hook), "/opt/aws/amazon-cloudwatch-agent/etc/leadergate.json") {
		t.Errorf("the postdeploy hook does not add the log to the CloudWatch agent:\n%s", hook)
	}
}

// Jobs that ran as root get their own unit, as root, on a root-owned
// crontab validated like the other; without the file there is none.
func TestInstallRootJobs(t *testing.T) {
	f := newFixture(t)
	root := f.bundle + "/leader-jobs.root.cron"
	f.write(root, []byte("0 3 * * * /usr/bin/certbot renew\n"), 0o664)
	out := f.mustRun()
	if !strings.Contains(out, "leadergate-root.service") {
		t.Errorf("stdout does not name the root unit:\n%s", out)
	}
	if !contains(f.calls(), "leadergate-linux-amd64 schedule --check --strict "+root) {
		t.Errorf("the root crontab was not validated; calls: %q", f.calls())
	}
	if _, err := os.Stat(root); err == nil {
		t.Error("leader-jobs.root.cron was left in the bundle")
	}
	f.expectFile("/etc/leadergate/leader-jobs.root.cron.next", 0o600, false)
	f.expectOwner("/etc/leadergate/leader-jobs.root.cron.next", 0, 0)
	f.expectDir("/var/lib/leadergate-root", 0o700, 0, 0)
	s := unitSettings(t, f.expectFile("/etc/systemd/system/leadergate-root.service", 0o644, false))
	for k, v := range map[string]string{
		"Service.User":             "root",
		"Service.SyslogIdentifier": "leadergate-root",
		// No metrics: it reads the same environment file as the main
		// unit, and both cannot listen on its LEADERGATE_METRICS_ADDR.
		"Service.ExecStart": "/usr/local/bin/leadergate schedule --grace 30s --metrics-addr= --no-lifecycle --namespace root /etc/leadergate/leader-jobs.root.cron",
	} {
		if got := s[k]; len(got) != 1 || got[0] != v {
			t.Errorf("root unit %s = %q, want %q", k, got, v)
		}
	}
	env := strings.Join(s["Service.Environment"], " ")
	for _, want := range []string{"LEADERGATE_STATE_DIR=/var/lib/leadergate-root", "LEADERGATE_MARKER= ", "LEADERGATE_NO_TAG=true"} {
		if !strings.Contains(env+" ", want) {
			t.Errorf("root unit Environment %q lacks %q", env, want)
		}
	}
	if !contains(f.calls(), "systemctl --root="+f.root+" enable leadergate.service leadergate-root.service") {
		t.Errorf("the root unit was not enabled; calls: %q", f.calls())
	}
	hook := f.bundle + "/.platform/hooks/postdeploy/99_leadergate.sh"
	if b, _ := os.ReadFile(hook); !strings.Contains(string(b), "systemctl restart leadergate.service leadergate-root.service") ||
		!strings.Contains(string(b), "systemctl reload-or-restart leadergate.service leadergate-root.service") {
		t.Errorf("the hook does not restart or reload both units:\n%s", b)
	}
	shellcheck(t, "postdeploy hook", hook)
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		v, _ := exposure(t, f.root+"/etc/systemd/system/leadergate-root.service")
		t.Logf("leadergate-root.service exposure %.1f", v)
		doc, err := os.ReadFile(ebDoc)
		if err != nil {
			t.Fatal(err)
		}
		if quoted := strconv.FormatFloat(v, 'f', 1, 64); !strings.Contains(string(doc), "exposure "+quoted) {
			t.Errorf("%s does not quote the root unit's measured exposure: want the words \"exposure %s\"", ebDoc, quoted)
		}
	}

	// The next deployment has no root crontab: the root unit goes away.
	f.write(f.bundle+"/.leadergate/leadergate-linux-amd64", f.amd64, 0o755)
	f.write(f.crontabPath, []byte("*/5 * * * * ./bin/send-reminders\n"), 0o644)
	before := len(f.calls())
	f.mustRun()
	if _, err := os.Stat(f.root + "/etc/systemd/system/leadergate-root.service"); err == nil {
		t.Error("leadergate-root.service stayed without leader-jobs.root.cron")
	}
	if !contains(f.calls()[before:], "systemctl --root="+f.root+" disable leadergate-root.service") {
		t.Errorf("the root unit was not disabled; calls: %q", f.calls()[before:])
	}
	if _, err := os.Stat(f.root + "/etc/leadergate/leader-jobs.root.cron.next"); err == nil {
		t.Error("the old root crontab stayed staged")
	}
}

// expectDir checks that root+path is a directory with this mode and owner.
func (f *fixture) expectDir(path string, mode os.FileMode, uid, gid int) {
	f.t.Helper()
	fi, err := os.Stat(f.root + path)
	if err != nil || !fi.IsDir() {
		f.t.Errorf("%s is not a directory: %v", path, err)
		return
	}
	if got := fi.Mode().Perm(); got != mode {
		f.t.Errorf("%s mode = %04o, want %04o", path, got, mode)
	}
	f.expectOwner(path, uid, gid)
}

// The postdeploy hook, run as Elastic Beanstalk runs it, with its absolute
// paths pointed into a scratch root: it puts the staged crontabs in place,
// restarts the units, and adds the log to the CloudWatch agent only when
// the agent runs (log streaming on).
func TestPostdeployHook(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		appends      bool
	}{
		{"streaming on", `{"status": "running", "configstatus": "configured"}`, true},
		{"streaming off", `{"status": "stopped", "configstatus": "configured"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.write(f.bundle+"/leader-jobs.root.cron", []byte("0 3 * * * /usr/bin/certbot renew\n"), 0o644)
			f.mustRun()
			text, err := os.ReadFile(f.bundle + "/.platform/confighooks/postdeploy/99_leadergate.sh")
			if err != nil {
				t.Fatal(err)
			}
			// The hook's own paths are under LEADERGATE_ROOT already; the
			// agent's are not (the install does not write them).
			hook := strings.ReplaceAll(string(text), "/opt/aws/", f.root+"/opt/aws/")
			hookPath := filepath.Join(t.TempDir(), "99_leadergate.sh")
			f.write(hookPath, []byte(hook), 0o755)
			// The agent's control script as Elastic Beanstalk installs it,
			// and the configuration .ebextensions/leadergate.config writes.
			f.write(f.root+"/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", []byte(`#!/bin/sh
echo "amazon-cloudwatch-agent-ctl $*" >>"$FAKE_LOG"
if [ "$2" = status ]; then echo '`+tc.status+`'; fi
`), 0o755)
			f.write(f.root+"/opt/aws/amazon-cloudwatch-agent/etc/leadergate.json", []byte("{}\n"), 0o644)

			before := len(f.calls())
			cmd := exec.Command(hookPath)
			cmd.Env = []string{"PATH=" + f.stubs + ":/usr/bin:/bin", "FAKE_LOG=" + f.log}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("hook: %v\n%s", err, out)
			}
			for _, tab := range []string{"leader-jobs.cron", "leader-jobs.root.cron"} {
				if _, err := os.Stat(f.root + "/etc/leadergate/" + tab); err != nil {
					t.Errorf("%s not put in place: %v", tab, err)
				}
				if _, err := os.Stat(f.root + "/etc/leadergate/" + tab + ".next"); err == nil {
					t.Errorf("%s.next left behind", tab)
				}
			}
			calls := f.calls()[before:]
			if len(calls) == 0 || calls[0] != "systemctl restart leadergate.service leadergate-root.service" {
				t.Errorf("hook calls %q, want a restart of both units first", calls)
			}
			// The same binary, units and environment again: a reload.
			before = len(f.calls())
			again := exec.Command(hookPath)
			again.Env = cmd.Env
			if out, err := again.CombinedOutput(); err != nil {
				t.Fatalf("hook again: %v\n%s", err, out)
			}
			if calls := f.calls()[before:]; len(calls) == 0 || calls[0] != "systemctl reload-or-restart leadergate.service leadergate-root.service" {
				t.Errorf("second hook run calls %q, want a reload of both units first", calls)
			}
			appended := contains(calls, "amazon-cloudwatch-agent-ctl -a append-config -m ec2 -s -c file:"+f.root+"/opt/aws/amazon-cloudwatch-agent/etc/leadergate.json")
			if appended != tc.appends {
				t.Errorf("agent %s: append-config called = %v, want %v; calls %q", tc.status, appended, tc.appends, calls)
			}
		})
	}
}
