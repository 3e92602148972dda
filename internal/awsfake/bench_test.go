package awsfake_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/leadergate/leadergate/internal/awsfake"
)

// BenchmarkDescribeGroup lists the running instances of one group of 1,000
// in a region of 10,000, as an election does: real SDK client, real HTTP,
// SigV4 verified, every page. One op is one whole listing.
func BenchmarkDescribeGroup(b *testing.B) {
	e := newEC2(b)
	for i := range 10_000 {
		in := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{
			groupTag: fmt.Sprintf("e-%03d", i%10),
			"leader": "false",
		}})
		if i%100 == 13 { // 100 stopped in the group of e-003
			if err := e.Stop(in.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	c := newClient(e)
	filters := []types.Filter{filter("tag:"+groupTag, "e-003"), filter("instance-state-name", "running")}
	for _, max := range []int32{0, 100, 1000} {
		name := fmt.Sprintf("MaxResults=%d", max)
		if max == 0 {
			name = "unpaginated"
		}
		b.Run(name, func(b *testing.B) {
			in := &ec2.DescribeInstancesInput{Filters: filters}
			if max > 0 {
				in.MaxResults = aws.Int32(max)
			}
			for b.Loop() {
				n := 0
				p := ec2.NewDescribeInstancesPaginator(c, in)
				for p.HasMorePages() {
					out, err := p.NextPage(testContext(b))
					if err != nil {
						b.Fatal(err)
					}
					n += len(out.Reservations)
				}
				if n != 900 {
					b.Fatalf("listed %d running instances of the group, want 900", n)
				}
			}
		})
	}
}

// BenchmarkDescribeGroupServerSide measures the emulator alone: the same
// listing as BenchmarkDescribeGroup, MaxResults 1000, served straight into a
// recorder (no SDK decoding, no network, signature form only).
func BenchmarkDescribeGroupServerSide(b *testing.B) {
	e := awsfake.NewEC2(awsfake.WithSeed(1))
	b.Cleanup(e.Close)
	for i := range 10_000 {
		e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: fmt.Sprintf("e-%03d", i%10), "leader": "false"}})
	}
	form := url.Values{
		"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "MaxResults": {"1000"},
		"Filter.1.Name": {"tag:" + groupTag}, "Filter.1.Value.1": {"e-003"},
		"Filter.2.Name": {"instance-state-name"}, "Filter.2.Value.1": {"running"},
	}.Encode()
	date := time.Now().UTC().Format("20060102T150405Z")
	for b.Loop() {
		req := httptest.NewRequest("POST", "/", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Amz-Date", date)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/"+date[:8]+"/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != 200 || strings.Count(rec.Body.String(), "<instanceId>") != 1000 {
			b.Fatalf("HTTP %d, %d instances", rec.Code, strings.Count(rec.Body.String(), "<instanceId>"))
		}
		e.ResetCalls()
	}
}
