package awsfake_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/leadergate/leadergate/internal/awsfake"
)

func newIMDS(t *testing.T, id, region string, opts ...awsfake.Option) *awsfake.IMDS {
	t.Helper()
	m := awsfake.NewIMDS(id, region, opts...)
	t.Cleanup(m.Close)
	return m
}

// imdsClient is the SDK client as leadergate builds it: IMDSv2 only.
func imdsClient(m *awsfake.IMDS, attempts int) *imds.Client {
	return imds.New(imds.Options{
		Endpoint:       m.URL(),
		EnableFallback: aws.FalseTernary,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.NewExponentialJitterBackoff(10 * time.Millisecond)
		}),
	})
}

func TestIMDSServesTheIdentityDocumentWithAToken(t *testing.T) {
	clock := newFakeClock()
	e := newEC2(t, awsfake.WithClock(clock.Now), awsfake.WithRegion("eu-west-1"))
	inst := e.Launch(awsfake.LaunchSpec{InstanceType: "m7g.large"})
	m := newIMDS(t, inst.ID, "eu-west-1", awsfake.WithInstance(inst), awsfake.WithAccountID("210987654321"))
	c := imdsClient(m, 3)
	ctx := testContext(t)

	doc, err := c.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		t.Fatal(err)
	}
	d := doc.InstanceIdentityDocument
	if d.InstanceID != inst.ID || d.Region != "eu-west-1" || d.AvailabilityZone != "eu-west-1a" || d.AccountID != "210987654321" ||
		d.InstanceType != "m7g.large" || d.PrivateIP != inst.PrivateIP || !d.PendingTime.Equal(inst.LaunchTime) || d.Version != "2017-09-30" || d.ImageID != inst.ImageID {
		t.Errorf("identity document %+v does not describe %+v", d, inst)
	}
	region, err := c.GetRegion(ctx, &imds.GetRegionInput{})
	if err != nil || region.Region != "eu-west-1" {
		t.Errorf("GetRegion: %v, %v", region, err)
	}
	md, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: "instance-id"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(md.Content); string(b) != inst.ID {
		t.Errorf("meta-data/instance-id = %q, want %q", b, inst.ID)
	}
	// The SDK caches its token: three reads, one token.
	if tokens, all := m.Calls(awsfake.IMDSTokenPath), m.Calls(""); tokens != 1 || all != 4 {
		t.Errorf("calls: %d token, %d in all; want 1 and 4", tokens, all)
	}
	m.ResetCalls()
	if n := m.Calls(""); n != 0 {
		t.Errorf("after ResetCalls: %d calls", n)
	}
}

// raw sends one request to the metadata service as curl would.
func raw(t *testing.T, method, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestIMDSRefusesIMDSv1AndBadTokens(t *testing.T) {
	clock := newFakeClock()
	m := newIMDS(t, "i-0123456789abcdef0", "us-east-1", awsfake.WithClock(clock.Now))
	doc := m.URL() + awsfake.IMDSIdentityPath

	if code, _ := raw(t, "GET", doc, nil); code != 401 {
		t.Errorf("IMDSv1 read (no token): HTTP %d, want 401", code)
	}
	if code, _ := raw(t, "GET", doc, map[string]string{"X-aws-ec2-metadata-token": "forged"}); code != 401 {
		t.Errorf("forged token: HTTP %d, want 401", code)
	}
	for _, ttl := range []string{"", "0", "21601", "ten"} {
		if code, _ := raw(t, "PUT", m.URL()+awsfake.IMDSTokenPath, map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": ttl}); code != 400 {
			t.Errorf("token with TTL %q: HTTP %d, want 400", ttl, code)
		}
	}
	if code, _ := raw(t, "GET", m.URL()+awsfake.IMDSTokenPath, map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}); code != 405 {
		t.Errorf("token by GET: HTTP %d, want 405", code)
	}
	if code, _ := raw(t, "PUT", m.URL()+awsfake.IMDSTokenPath, map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"}); code != 403 {
		t.Errorf("token through a proxy: HTTP %d, want 403", code)
	}

	code, token := raw(t, "PUT", m.URL()+awsfake.IMDSTokenPath, map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"})
	if code != 200 || token == "" {
		t.Fatalf("token: HTTP %d %q", code, token)
	}
	withToken := map[string]string{"X-aws-ec2-metadata-token": token}
	if code, body := raw(t, "GET", doc, withToken); code != 200 || !strings.Contains(body, `"instanceId": "i-0123456789abcdef0"`) {
		t.Errorf("with a token: HTTP %d %s", code, body)
	}
	if code, _ := raw(t, "GET", m.URL()+"/latest/meta-data/no-such-thing", withToken); code != 404 {
		t.Errorf("unknown path: HTTP %d, want 404", code)
	}
	clock.Add(61 * time.Second)
	if code, _ := raw(t, "GET", doc, withToken); code != 401 {
		t.Errorf("expired token: HTTP %d, want 401", code)
	}
}

func TestIMDSFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault awsfake.Fault
	}{
		{"always unauthorized", awsfake.Fault{Kind: awsfake.Unauthorized, Action: awsfake.IMDSIdentityPath}},
		{"internal error", awsfake.Fault{Kind: awsfake.InternalError, Action: awsfake.IMDSIdentityPath}},
		{"throttled", awsfake.Fault{Kind: awsfake.Throttle}},
		{"no token answer, as behind hop limit 1", awsfake.Fault{Kind: awsfake.Hang, Action: awsfake.IMDSTokenPath}},
		{"document hangs", awsfake.Fault{Kind: awsfake.Hang, Action: awsfake.IMDSIdentityPath}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newIMDS(t, "i-0123456789abcdef0", "us-east-1")
			c := imdsClient(m, 2)
			m.Inject(tc.fault)
			ctx, cancel := context.WithTimeout(testContext(t), 500*time.Millisecond)
			defer cancel()
			if _, err := c.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{}); err == nil {
				t.Fatal("identity document read despite the fault")
			}
			if n := m.Calls(tc.fault.Action); n == 0 {
				t.Errorf("the faulty path was never called")
			}
			m.ClearFaults()
			if _, err := imdsClient(m, 2).GetInstanceIdentityDocument(testContext(t), &imds.GetInstanceIdentityDocumentInput{}); err != nil {
				t.Errorf("after ClearFaults: %v", err)
			}
		})
	}
}

func TestIMDSFaultCountExpires(t *testing.T) {
	m := newIMDS(t, "i-0123456789abcdef0", "us-east-1")
	m.Inject(awsfake.Fault{Kind: awsfake.InternalError, Action: awsfake.IMDSIdentityPath, Count: 1})
	// With 3 attempts the SDK retries the 500 and gets the document.
	if _, err := imdsClient(m, 3).GetInstanceIdentityDocument(testContext(t), &imds.GetInstanceIdentityDocumentInput{}); err != nil {
		t.Fatal(err)
	}
	if n := m.Calls(awsfake.IMDSIdentityPath); n != 2 {
		t.Errorf("document read %d times, want 2 (one 500, one retry)", n)
	}
}
