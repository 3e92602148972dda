package ebsim

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/awsfake"
)

// Paths on an instance, inside its root.
const (
	Staging  = "/var/app/staging"
	Current  = "/var/app/current"
	EnvFile  = "/opt/elasticbeanstalk/deployment/env"
	Manifest = "/opt/elasticbeanstalk/deployment/app_version_manifest.json"
)

// Instance is one simulated EC2 instance of the environment.
type Instance struct {
	ID string
	// Root is the directory standing for the instance's /.
	Root string
	env  *Env
	imds *awsfake.IMDS
	bin  string // the fake systemctl's directory
	svc  *services
	n    int

	mu         sync.Mutex
	steps      []string
	deploys    int
	terminated bool
}

func newInstance(e *Env, id string, n int) *Instance {
	dir := filepath.Join(e.dir, "instances", id)
	in := &Instance{ID: id, Root: filepath.Join(dir, "root"), env: e, bin: filepath.Join(dir, "bin"), n: n}
	ec2in, _ := e.EC2.Instance(id)
	in.imds = awsfake.NewIMDS(id, e.opts.Region, awsfake.WithInstance(ec2in))
	for _, d := range []string{Current, "/etc/systemd/system", "/var/lib/leadergate-deploy", "/tmp", "/var/log"} {
		if err := os.MkdirAll(in.Root+d, 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	os.Chmod(in.Root+"/var/lib/leadergate-deploy", 0o700)
	in.svc = newServices(in)
	writeFile(e.t, filepath.Join(in.bin, "systemctl"), fmt.Sprintf(systemctlScript, in.svc.url), 0o755)
	return in
}

// systemctlScript asks the instance's service manager; it prints what the
// manager answers and exits with its status.
const systemctlScript = `#!/bin/sh
# The deployment simulator's systemctl: asks the instance's service manager.
out=$(curl -sS --max-time 120 --data-urlencode "args=$*" %s/systemctl) || { echo "systemctl: the simulated service manager does not answer" >&2; exit 1; }
code=${out%%%%
*}
msg=${out#*
}
[ "$msg" = "$out" ] || [ -z "$msg" ] || printf '%%s\n' "$msg"
exit "$code"
`

// Env returns the environment every process on the instance starts with
// (PATH with the simulated systemctl first, the emulators' endpoints,
// test credentials, paths inside the root), plus extra.
func (in *Instance) Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "LEADERGATE_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		// The instance's own /usr/local/bin (where install.sh puts
		// leadergate) before the host's.
		"PATH="+in.bin+":"+in.Root+"/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"AWS_ENDPOINT_URL_EC2="+in.env.EC2.URL(),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+in.imds.URL(),
		"AWS_ACCESS_KEY_ID=AKIDTEST",
		"AWS_SECRET_ACCESS_KEY=test-secret",
		"AWS_REGION="+in.env.opts.Region,
		"AWS_CONFIG_FILE="+in.Root+"/none",
		"AWS_SHARED_CREDENTIALS_FILE="+in.Root+"/none",
		"EBSIM_INSTANCE_ID="+in.ID,
	)
	// Never real AWS: without moto_server, DynamoDB is a closed port.
	ddb, _ := in.env.DynamoDB("")
	if ddb == "" {
		ddb = "http://127.0.0.1:9"
	}
	env = append(env, "AWS_ENDPOINT_URL_DYNAMODB="+ddb)
	return append(env, extra...)
}

// deployEnv is the environment of commands and hooks.
func (in *Instance) deployEnv(props map[string]string) []string {
	var extra []string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		extra = append(extra, k+"="+props[k])
	}
	return in.Env(append(extra,
		"LEADERGATE_ROOT="+in.Root,
		"LEADERGATE_USER="+in.env.user,
		"LEADERGATE_ARCH="+in.env.arch,
		"LEADERGATE_STATE_DIR="+in.Root+"/var/lib/leadergate-deploy",
		"LEADERGATE_MARKER=",
	)...)
}

// Steps returns the deployment steps this instance ran, in order, each as
// "<kind> <name>", e.g. "container_command 01_leadergate_install",
// "hook predeploy/10_once.sh", "swap", "failed: ...".
func (in *Instance) Steps() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.steps)
}

func (in *Instance) step(s string) {
	in.mu.Lock()
	in.steps = append(in.steps, s)
	in.mu.Unlock()
}

// Deploy runs an application deployment of b on this instance (see the
// package comment for the steps). The error names the step that failed
// and holds its output.
func (in *Instance) Deploy(b Bundle) error {
	props := in.env.Properties()
	staging := in.Root + Staging
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := copyTree(b.Dir, staging); err != nil {
		return err
	}
	return in.run("hooks", b.Label, props)
}

// ConfigDeploy runs a configuration deployment: the live application is
// staged again, the steps run with .platform/confighooks.
func (in *Instance) ConfigDeploy() error {
	staging := in.Root + Staging
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := copyTree(in.Root+Current, staging); err != nil {
		return err
	}
	label := in.env.Current().Label
	return in.run("confighooks", label, in.env.Properties())
}

func (in *Instance) run(hooks, label string, props map[string]string) (err error) {
	in.mu.Lock()
	in.deploys++
	serial := in.deploys
	in.mu.Unlock()
	in.step(fmt.Sprintf("deploy %s (%s)", label, hooks))
	defer func() {
		if err != nil {
			in.step("failed: " + err.Error())
			err = fmt.Errorf("%s: %w", in.ID, err)
		}
	}()
	staging := in.Root + Staging
	// What the platform writes before the deployment's commands run.
	if err := writeFileErr(in.Root+EnvFile, envFile(props), 0o600); err != nil {
		return err
	}
	app := filepath.Base(in.env.opts.Repo)
	manifest, _ := json.Marshal(map[string]any{
		"RuntimeSources": map[string]any{app: map[string]any{label: map[string]string{"s3url": ""}}},
		"DeploymentId":   serial, "Serial": serial,
	})
	if err := writeFileErr(in.Root+Manifest, string(manifest), 0o644); err != nil {
		return err
	}
	configs, err := readConfigs(staging)
	if err != nil {
		return err
	}
	env := in.deployEnv(props)
	// Initial: files and commands.
	for _, c := range configs {
		for _, path := range slices.Sorted(maps.Keys(c.Files)) {
			f := c.Files[path]
			mode, err := strconv.ParseUint(f.Mode, 8, 32)
			if f.Mode == "" || err != nil {
				mode = 0o644
			}
			if err := writeFileErr(in.Root+path, f.Content, os.FileMode(mode)); err != nil {
				return fmt.Errorf("files: %s: %w", path, err)
			}
		}
	}
	for _, c := range configs {
		for _, cmd := range c.Commands {
			if err := in.command("command", cmd, in.Root, env); err != nil {
				return err
			}
		}
	}
	if err := in.hooks(staging, hooks, "prebuild", env); err != nil {
		return err
	}
	// Configure: container_commands, predeploy.
	for _, c := range configs {
		for _, cmd := range c.ContainerCommands {
			if err := in.command("container_command", cmd, staging, env); err != nil {
				return err
			}
		}
	}
	if err := in.hooks(staging, hooks, "predeploy", env); err != nil {
		return err
	}
	// Deploy: the staging directory becomes the application.
	if err := os.RemoveAll(in.Root + Current); err != nil {
		return err
	}
	if err := os.Rename(staging, in.Root+Current); err != nil {
		return err
	}
	in.step("swap")
	return in.hooks(in.Root+Current, hooks, "postdeploy", env)
}

// command runs one entry of commands: or container_commands:.
func (in *Instance) command(kind string, c command, dir string, env []string) error {
	if c.Cwd != "" {
		dir = in.Root + c.Cwd
	}
	for k, v := range c.Env {
		env = append(env, k+"="+v)
	}
	if c.Test != "" {
		if _, err := in.sh(c.Test, dir, env); err != nil {
			in.step(kind + " " + c.Name + " (test false: skipped)")
			return nil
		}
	}
	line := c.Command
	if first, rest, _ := strings.Cut(line, " "); strings.HasPrefix(first, "/") {
		if _, err := os.Stat(in.Root + first); err == nil {
			line = in.Root + first
			if rest != "" {
				line += " " + rest
			}
		}
	}
	in.step(kind + " " + c.Name)
	out, err := in.sh(line, dir, env)
	if err != nil && !c.IgnoreErrors {
		return fmt.Errorf("%s %s: %v\n%s", kind, c.Name, err, out)
	}
	return nil
}

func (in *Instance) sh(line, dir string, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hooks runs the executable files of dir/.platform/<hooks>/<stage> in
// name order, in dir.
func (in *Instance) hooks(dir, hooks, stage string, env []string) error {
	hd := filepath.Join(dir, ".platform", hooks, stage)
	entries, err := os.ReadDir(hd)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || e.IsDir() || info.Mode()&0o111 == 0 {
			continue
		}
		name := stage + "/" + e.Name()
		in.step("hook " + name)
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		cmd := exec.CommandContext(ctx, filepath.Join(hd, e.Name()))
		cmd.Dir = dir
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("hook %s/%s: %v\n%s", hooks, name, err, out)
		}
	}
	return nil
}

// Unit returns the service manager's view of a unit (e.g.
// "leadergate.service").
func (in *Instance) Unit(name string) *Unit { return in.svc.unit(name) }

// Log returns the lines of the instance's file under var/log/leadergate
// named file (e.g. "leadergate.log").
func (in *Instance) Log(file string) []string {
	b, _ := os.ReadFile(filepath.Join(in.Root, "var/log/leadergate", file))
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// WaitLog waits until at least n lines of the scheduler's log
// (leadergate.log) match the regular expression re and returns them; the
// test fails if that takes longer than a bound meant only to end a hang.
func (in *Instance) WaitLog(t testing.TB, re string, n int) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(waitFor)
	for {
		ch := in.svc.logChanged()
		var got []string
		for _, l := range in.Log("leadergate.log") {
			if rx.MatchString(l) {
				got = append(got, l)
			}
		}
		if len(got) >= n {
			return got
		}
		// The pipe from the unit wakes it; a scheduler writing its own
		// log file (--log-file, Amazon Linux 2) is looked at every 50 ms.
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d log lines match %q after %v; log:\n%s", in.ID, len(got), n, re, waitFor, strings.Join(in.Log("leadergate.log"), "\n"))
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Command returns a command that runs name on the instance: its
// environment (see Env), in the live application directory.
func (in *Instance) Command(name string, args ...string) *exec.Cmd {
	if name == "systemctl" {
		name = filepath.Join(in.bin, name) // never the host's
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = in.Root + Current
	cmd.Env = in.Env()
	return cmd
}

// Terminate shuts the instance down as Auto Scaling does: its units are
// stopped (SIGTERM, their grace), then EC2 terminates it.
func (in *Instance) Terminate() {
	in.shutdown()
	in.env.EC2.Terminate(in.ID)
	in.env.remove(in)
}

func (in *Instance) shutdown() {
	in.mu.Lock()
	done := in.terminated
	in.terminated = true
	in.mu.Unlock()
	if done {
		return
	}
	in.svc.shutdown()
	in.imds.Close()
}

// copyTree copies the regular files, directories and symlinks of src to
// dst, keeping modes.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return writeFileErr(to, string(data), info.Mode().Perm())
		}
	})
}
