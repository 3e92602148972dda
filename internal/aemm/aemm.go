// Package aemm runs AWS's amazon-ec2-metadata-mock (a pinned tool of go.mod)
// for tests. It is imported by _test.go files only: test machinery stays out
// of the release binary.
package aemm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mock is a running amazon-ec2-metadata-mock (AWS's own IMDS emulator, a
// pinned tool of go.mod), IMDSv2 only, on 127.0.0.1, serving a given
// instance id and region as the identity. Its subcommands (spot,
// asglifecycle, ...) and delays come from the caller's arguments.
type Mock struct {
	URL string
	cmd *exec.Cmd
	log string
	// Started is when the mock began to answer: its delays count from
	// about then.
	Started time.Time
	exited  chan struct{}
}

// ErrUnavailable means the mock's source cannot be had (offline, no module
// cache): a reason to skip, unless LEADERGATE_REQUIRE_IMDS_MOCK=1.
var ErrUnavailable = errors.New("amazon-ec2-metadata-mock cannot be built here")

// Skip reports whether err from Build or Start means "skip this test".
func Skip(err error) bool {
	return errors.Is(err, ErrUnavailable) && os.Getenv("LEADERGATE_REQUIRE_IMDS_MOCK") != "1"
}

// Build returns the mock's executable: `go tool -n` builds the tool
// pinned in go.mod into the build cache (once) and prints its path.
func Build() (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w: no go command on PATH", ErrUnavailable)
	}
	if out, err := exec.Command(gobin, "list", "-deps", "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock").CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: %v\n%s", ErrUnavailable, err, out)
	}
	out, err := exec.Command(gobin, "tool", "-n", "ec2-metadata-mock").Output()
	if err != nil {
		return "", fmt.Errorf("build ec2-metadata-mock: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Start starts the mock from bin in dir with args (e.g. "spot", "-d",
// "4") for instance id in region, IMDSv2 only, and returns once it answers
// a token request.
func Start(bin, dir, id, region string, args ...string) (*Mock, error) {
	return StartDoc(bin, dir, map[string]any{"instanceId": id, "region": region, "availabilityZone": region + "a"}, true, args...)
}

// StartDoc is Start with doc as the instance identity document (the mock
// merges it over its default one field by field) and, when imdsv2Only is
// false, token-less IMDSv1 requests answered too.
func StartDoc(bin, dir string, doc map[string]any, imdsv2Only bool, args ...string) (*Mock, error) {
	cfg, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"values": map[string]any{"instance-id": doc["instanceId"]}},
		"dynamic":  map[string]any{"values": map[string]any{"instance-identity-document": doc}},
	})
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "aemm-config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	// -n: the mock listens on 0.0.0.0 by default, which tests must not.
	args = append(args, "-n", "127.0.0.1", "-c", cfgPath)
	if imdsv2Only {
		args = append(args, "-I")
	}
	var last error
	for range 3 { // the free port may be taken before the mock binds it
		m, err := start(bin, dir, args)
		if err == nil {
			return m, nil
		}
		last = err
	}
	return nil, last
}

func start(bin, dir string, args []string) (*Mock, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	m := &Mock{URL: "http://127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(dir, fmt.Sprintf("aemm-%d.log", port)), exited: make(chan struct{})}
	logf, err := os.Create(m.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	m.cmd = exec.Command(bin, append(args, "-p", strconv.Itoa(port))...)
	// A clean environment: the mock reads AEMM_* and $HOME/aemm-config.json.
	m.cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = m.cmd.Wait(); close(m.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-m.exited:
			return nil, fmt.Errorf("ec2-metadata-mock exited before answering:\n%s", m.Log())
		default:
		}
		if _, err := m.Token(); err == nil {
			m.Started = time.Now()
			if err := loopbackOnly(port, m.cmd.Process.Pid); err != nil {
				m.Close()
				return nil, err
			}
			return m, nil
		}
		if time.Now().After(deadline) {
			m.Close()
			return nil, fmt.Errorf("ec2-metadata-mock did not answer on %s within 10s:\n%s", m.URL, m.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Token gets an IMDSv2 session token.
func (m *Mock) Token() (string, error) {
	req, _ := http.NewRequest(http.MethodPut, m.URL+"/latest/api/token", nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "300")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b := make([]byte, 512)
	n, _ := resp.Body.Read(b)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token: HTTP %d", resp.StatusCode)
	}
	return string(b[:n]), nil
}

// Get reads a path (e.g. /latest/meta-data/spot/instance-action) with a
// token and reports its HTTP status.
func (m *Mock) Get(tok, path string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, m.URL+path, nil)
	req.Header.Set("X-Aws-Ec2-Metadata-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Log is the mock's own output, for a failing test.
func (m *Mock) Log() string {
	b, _ := os.ReadFile(m.log)
	return string(b)
}

// Close stops the mock.
func (m *Mock) Close() {
	_ = m.cmd.Process.Kill()
	<-m.exited
}

// loopbackOnly reads the kernel's socket table (Linux) to confirm that the
// only listener on port is bound to 127.0.0.1, not to a wildcard address:
// tests talk to 127.0.0.1 only, and so must what they start. It also
// confirms that the listener is the mock's own (process pid): the free
// port was picked before the mock bound it, and a parallel test's server
// that took it in between would answer a token too.
func loopbackOnly(port, pid int) error {
	want := fmt.Sprintf(":%04X", port)
	var found, inodes []string
	read := false
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // not Linux: the -n flag alone has to do
		}
		read = true
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			// local_address is fields[1]; state 0A is LISTEN; inode fields[9].
			if len(fields) > 9 && fields[3] == "0A" && strings.HasSuffix(fields[1], want) {
				found = append(found, fields[1])
				inodes = append(inodes, "socket:["+fields[9]+"]")
			}
		}
	}
	if !read {
		return nil
	}
	if len(found) == 0 {
		return fmt.Errorf("no listener on port %d in /proc/net/tcp{,6}, though ec2-metadata-mock answers there", port)
	}
	for _, a := range found {
		if a != "0100007F"+want {
			return fmt.Errorf("ec2-metadata-mock listens on %s (hex, from /proc/net), not only on 127.0.0.1", a)
		}
	}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && slices.Contains(inodes, l) {
			return nil
		}
	}
	return fmt.Errorf("%w: another process listens on port %d", errNotMine, port)
}

// errNotMine: the picked port was taken by another process before the
// mock bound it; starting again on another port helps.
var errNotMine = errors.New("the listener is not ec2-metadata-mock's")
