package elect_test

// These tests check elect.AWS's IMDS side against a third-party emulator,
// AWS's own amazon-ec2-metadata-mock (a go.mod tool), rather than only
// against awsfake.IMDS, which we wrote ourselves from the same reading of
// the docs as the client.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"

	"github.com/leadergate/leadergate/internal/clock"
)

const (
	imdsMockTool     = "ec2-metadata-mock"
	imdsMockPkg      = "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock"
	imdsMockRequire  = "LEADERGATE_REQUIRE_IMDS_MOCK"
	imdsDocPath      = "/latest/dynamic/instance-identity/document"
	imdsTokenHeader  = "X-Aws-Ec2-Metadata-Token"
	mockInstanceID   = "i-0fedcba9876543210"
	mockRegion       = "eu-west-1"
	mockStartTimeout = 10 * time.Second
)

// imdsMockBuild is the mock's executable, built once per test process.
// `go tool -n` builds the tool pinned in go.mod into the build cache and
// prints its path, so nothing is left behind and later runs reuse it.
type imdsMockBuild struct {
	path string
	skip string // why the tests skip: the module's source cannot be had
	err  error  // the source is there but does not build: a failure
	took time.Duration
}

var buildIMDSMock = sync.OnceValue(func() imdsMockBuild {
	start := time.Now()
	gobin, err := exec.LookPath("go")
	if err != nil {
		return imdsMockBuild{skip: "no go command on PATH to build " + imdsMockTool}
	}
	// go list loads every package of the tool: it fails only when a module
	// cannot be downloaded or verified, which is a reason to skip, not fail.
	if out, err := exec.Command(gobin, "list", "-deps", imdsMockPkg).CombinedOutput(); err != nil {
		return imdsMockBuild{skip: fmt.Sprintf("cannot get the source of %s (offline, no module cache?): %v\n%s", imdsMockPkg, err, imdsMockTail(out, 5))}
	}
	out, err := exec.Command(gobin, "tool", "-n", imdsMockTool).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		return imdsMockBuild{err: fmt.Errorf("build %s: %v\n%s", imdsMockTool, err, stderr)}
	}
	return imdsMockBuild{path: strings.TrimSpace(string(out)), took: time.Since(start)}
})

func imdsMockTail(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// imdsMockBinary returns the mock's path, skipping the test when its source
// cannot be downloaded unless LEADERGATE_REQUIRE_IMDS_MOCK=1.
func imdsMockBinary(t *testing.T) string {
	t.Helper()
	b := buildIMDSMock()
	switch {
	case b.err != nil:
		t.Fatal(b.err)
	case b.skip != "" && os.Getenv(imdsMockRequire) == "1":
		t.Fatalf("%s=1 but: %s", imdsMockRequire, b.skip)
	case b.skip != "":
		t.Skipf("skipping the amazon-ec2-metadata-mock test (set %s=1 to make this a failure): %s", imdsMockRequire, b.skip)
	}
	t.Logf("%s built once per test process in %s: %s", imdsMockTool, b.took.Round(time.Millisecond), b.path)
	return b.path
}

// startIMDSMock runs the mock on a free port of 127.0.0.1 serving doc as the
// instance identity document, and returns its base URL once it answers.
func startIMDSMock(t *testing.T, doc map[string]any, imdsv2Only bool) string {
	t.Helper()
	bin := imdsMockBinary(t)
	dir := t.TempDir()
	cfg, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"values": map[string]any{"instance-id": doc["instanceId"]}},
		// Viper merges this over the mock's default document field by field.
		"dynamic": map[string]any{"values": map[string]any{"instance-identity-document": doc}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "aemm-config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	// The port is free when we look; another process may take it before
	// the mock binds, in which case the mock exits and we try another.
	var lastErr error
	for range 3 {
		u, err := runIMDSMock(t, bin, dir, cfgPath, imdsv2Only)
		if err == nil {
			return u
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	return ""
}

func runIMDSMock(t *testing.T, bin, dir, cfgPath string, imdsv2Only bool) (string, error) {
	port, err := imdsMockFreePort()
	if err != nil {
		return "", err
	}
	// -n: the mock listens on 0.0.0.0 by default, which tests must not.
	args := []string{"-n", "127.0.0.1", "-p", strconv.Itoa(port), "-c", cfgPath}
	if imdsv2Only {
		args = append(args, "-I")
	}
	logPath := filepath.Join(dir, fmt.Sprintf("mock-%d.log", port))
	logf, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	// A clean environment: the mock reads AEMM_* variables and $HOME/aemm-config.json.
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	mockLog := func() string { b, _ := os.ReadFile(logPath); return imdsMockTail(b, 20) }

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(mockStartTimeout)
	for {
		select {
		case <-exited:
			return "", fmt.Errorf("%s exited before answering: %v\n%s", imdsMockTool, cmd.ProcessState, mockLog())
		default:
		}
		if _, err := imdsToken(base); err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("%s did not answer on %s within %s\n%s", imdsMockTool, base, mockStartTimeout, mockLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", imdsMockTool, mockLog())
		}
	})
	if err := imdsMockLoopbackOnly(port); err != nil {
		t.Fatal(err)
	}
	return base, nil
}

func imdsMockFreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// imdsMockLoopbackOnly reads the kernel's socket table (Linux) to confirm that
// the only listener on port is bound to 127.0.0.1, not to a wildcard address.
func imdsMockLoopbackOnly(port int) error {
	want := fmt.Sprintf(":%04X", port)
	var found []string
	read := false
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // not Linux: the -n flag alone has to do
		}
		read = true
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			// local_address is fields[1]; state 0A is LISTEN.
			if len(fields) > 3 && fields[3] == "0A" && strings.HasSuffix(fields[1], want) {
				found = append(found, fields[1])
			}
		}
	}
	if read && len(found) == 0 {
		return fmt.Errorf("no listener on port %d in /proc/net/tcp{,6}, though %s answers there", port, imdsMockTool)
	}
	for _, a := range found {
		if a != "0100007F"+want {
			return fmt.Errorf("%s listens on %s (hex, from /proc/net), not only on 127.0.0.1", imdsMockTool, a)
		}
	}
	return nil
}

// imdsToken asks for an IMDSv2 session token, as the SDK does.
func imdsToken(base string) (string, error) {
	req, err := http.NewRequest(http.MethodPut, base+"/latest/api/token", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "60")
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK || len(bytes.TrimSpace(b)) == 0 {
		return "", fmt.Errorf("PUT /latest/api/token: %s", resp.Status)
	}
	return string(bytes.TrimSpace(b)), nil
}

// imdsPlainGet is an IMDSv1 request: no token.
func imdsPlainGet(t *testing.T, u string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func mockIdentityDoc(id, region, az string) map[string]any {
	return map[string]any{
		"instanceId":       id,
		"region":           region,
		"availabilityZone": az,
		"accountId":        "123456789012",
	}
}

// imdsSeen is one request that reached the mock through imdsRecorder.
type imdsSeen struct {
	Method, Path string
	Token        bool
}

// imdsRecorder is a reverse proxy that records each request's method, path
// and whether it carried an IMDSv2 token.
type imdsRecorder struct {
	URL  string
	mu   sync.Mutex
	seen []imdsSeen
}

func newIMDSRecorder(t *testing.T, target string) *imdsRecorder {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &imdsRecorder{}
	// Rewrite, unlike Director, adds no X-Forwarded-For, which real IMDS
	// refuses on token requests: the mock sees what the client sent.
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, imdsSeen{Method: req.Method, Path: req.URL.Path, Token: req.Header.Get(imdsTokenHeader) != ""})
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *imdsRecorder) requests() []imdsSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]imdsSeen(nil), r.seen...)
}

// checkIMDSTokenOnly fails unless the client fetched a token and every GET it
// sent carried one, the identity document's among them.
func checkIMDSTokenOnly(t *testing.T, seen []imdsSeen) {
	t.Helper()
	var puts, docGets int
	for _, s := range seen {
		switch {
		case s.Method == http.MethodPut && s.Path == "/latest/api/token":
			puts++
		case s.Method == http.MethodGet && !s.Token:
			t.Errorf("token-less (IMDSv1) request: GET %s", s.Path)
		case s.Method == http.MethodGet && s.Path == imdsDocPath:
			docGets++
		}
	}
	if puts == 0 || docGets == 0 {
		t.Errorf("want a token PUT and a tokened GET of %s; saw %+v", imdsDocPath, seen)
	}
}

func TestIMDSMockSelfIMDSv2Only(t *testing.T) {
	base := startIMDSMock(t, mockIdentityDoc(mockInstanceID, mockRegion, mockRegion+"a"), true)

	// The mock really is IMDSv2-only: what an IMDSv1 client would send is refused.
	if code := imdsPlainGet(t, base+imdsDocPath); code != http.StatusUnauthorized {
		t.Fatalf("token-less GET %s on the IMDSv2-only mock: status %d, want 401", imdsDocPath, code)
	}

	rec := newIMDSRecorder(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	self, err := (&elect.AWS{IMDSEndpoint: rec.URL}).Self(ctx)
	if err != nil {
		t.Fatalf("Self against the IMDSv2-only mock: %v", err)
	}
	if want := (elect.Self{InstanceID: mockInstanceID, Region: mockRegion}); self != want {
		t.Fatalf("Self = %+v, want %+v", self, want)
	}
	checkIMDSTokenOnly(t, rec.requests())
}

// With IMDSv1 allowed the mock would answer a token-less GET, so only the
// recorder can tell whether the client fell back to IMDSv1.
func TestIMDSMockNeverTokenless(t *testing.T) {
	base := startIMDSMock(t, mockIdentityDoc(mockInstanceID, mockRegion, mockRegion+"b"), false)
	if code := imdsPlainGet(t, base+imdsDocPath); code != http.StatusOK {
		t.Fatalf("token-less GET %s on the IMDSv1-enabled mock: status %d, want 200", imdsDocPath, code)
	}

	rec := newIMDSRecorder(t, base)
	a := &elect.AWS{IMDSEndpoint: rec.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Twice: the second call reuses the client and its cached token.
	for i := range 2 {
		self, err := a.Self(ctx)
		if err != nil {
			t.Fatalf("Self #%d: %v", i+1, err)
		}
		if self.InstanceID != mockInstanceID || self.Region != mockRegion {
			t.Fatalf("Self #%d = %+v", i+1, self)
		}
	}
	seen := rec.requests()
	checkIMDSTokenOnly(t, seen)
	var puts int
	for _, s := range seen {
		if s.Method == http.MethodPut {
			puts++
		}
	}
	if puts != 1 {
		t.Errorf("token PUTs for two lookups on one client: %d, want 1 (the token is cached); saw %+v", puts, seen)
	}
}

// The whole election with the production AWS adapter: identity from AWS's
// IMDS emulator, EC2 from awsfake. awsfake picks instance ids, so the
// instance is launched first and the mock serves that id.
func TestIMDSMockElectorLeader(t *testing.T) {
	fleet := awsfake.NewEC2(awsfake.WithRegion(mockRegion))
	t.Cleanup(fleet.Close)
	inst := fleet.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-imdsmock"}})

	doc := mockIdentityDoc(inst.ID, mockRegion, inst.AvailabilityZone)
	doc["imageId"], doc["instanceType"], doc["privateIp"] = inst.ImageID, inst.InstanceType, inst.PrivateIP
	doc["pendingTime"] = inst.LaunchTime.Format(time.RFC3339)
	rec := newIMDSRecorder(t, startIMDSMock(t, doc, true))

	a := &elect.AWS{
		IMDSEndpoint: rec.URL,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")),
			config.WithSharedConfigFiles([]string{}),
			config.WithSharedCredentialsFiles([]string{}),
			config.WithBaseEndpoint(fleet.URL()),
		},
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "leader-manager-is-leader")
	el := &elect.Elector{
		Identity: a, Fleet: a,
		Store: &elect.Store{Dir: filepath.Join(dir, "state")},
		Config: elect.Config{
			GroupTags: elect.DefaultGroupTags(),
			Marker:    elect.Marker{Path: marker},
			Timeout:   10 * time.Second,
		},
		Clock:  clock.Real{},
		Logger: slog.New(slog.DiscardHandler),
	}
	v, err := el.Decide(context.Background(), elect.Request{Force: true})
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if !v.Leader || v.Self != inst.ID || v.LeaderID != inst.ID || v.Candidates != 1 || v.Group != "e-imdsmock" {
		t.Fatalf("verdict %+v, want %s leader of a one-instance group e-imdsmock", v, inst.ID)
	}
	if got := fleet.Tags(inst.ID)[elect.LeaderTag]; got != "true" {
		t.Errorf("leader tag on %s = %q, want \"true\"", inst.ID, got)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("leader marker: %v", err)
	}
	// The region EC2 was called in came from the mock: awsfake refuses
	// requests signed for another region, so a call got through only if it
	// was signed for eu-west-1.
	if fleet.Calls("DescribeInstances") == 0 {
		t.Errorf("no DescribeInstances reached the EC2 emulator")
	}
	checkIMDSTokenOnly(t, rec.requests())
}
