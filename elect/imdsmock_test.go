package elect_test

// These tests check elect.AWS's IMDS side against a third-party emulator,
// AWS's own amazon-ec2-metadata-mock (a go.mod tool), rather than only
// against awsfake.IMDS, which we wrote ourselves from the same reading of
// the docs as the client.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/aemm"
	"github.com/leadergate/leadergate/internal/awsfake"

	"github.com/leadergate/leadergate/internal/clock"
)

const (
	imdsDocPath     = "/latest/dynamic/instance-identity/document"
	imdsTokenHeader = "X-Aws-Ec2-Metadata-Token"
	mockInstanceID  = "i-0fedcba9876543210"
	mockRegion      = "eu-west-1"
)

// imdsMockBin is the mock's executable, built once per test process.
var imdsMockBin = sync.OnceValues(aemm.Build)

// startIMDSMock runs the mock on a free port of 127.0.0.1 serving doc as the
// instance identity document, and returns its base URL once it answers.
func startIMDSMock(t *testing.T, doc map[string]any, imdsv2Only bool) string {
	t.Helper()
	bin, err := imdsMockBin()
	if aemm.Skip(err) {
		t.Skipf("skipping the amazon-ec2-metadata-mock test (set LEADERGATE_REQUIRE_IMDS_MOCK=1 to make this a failure): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	m, err := aemm.StartDoc(bin, t.TempDir(), doc, imdsv2Only)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("ec2-metadata-mock log:\n%s", m.Log())
		}
	})
	return m.URL
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
