package elect_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
	"github.com/leadergate/leadergate/internal/motoserver"

	"github.com/leadergate/leadergate/internal/clock"
)

// fakeRegion launches region instances in all, group of them in one group.
func fakeRegion(tb testing.TB, region, group int) (*awsfake.EC2, []awsfake.Instance) {
	tb.Helper()
	f := awsfake.NewEC2(awsfake.WithSeed(1))
	tb.Cleanup(f.Close)
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	var members []awsfake.Instance
	for i := range region {
		env := fmt.Sprintf("e-%d", i%97+1)
		if i < group {
			env = "e-main"
		}
		in := f.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: env}, LaunchTime: base.Add(time.Duration(i) * time.Second)})
		if i < group {
			members = append(members, in)
		}
	}
	return f, members
}

func electorFor(tb testing.TB, id, ec2URL string) *elect.Elector {
	m := awsfake.NewIMDS(id, "us-east-1")
	tb.Cleanup(m.Close)
	a := &elect.AWS{IMDSEndpoint: m.URL(), LoadOptions: append(slices.Clone(testCreds), config.WithBaseEndpoint(ec2URL))}
	dir := tb.TempDir()
	return &elect.Elector{
		Identity: a, Fleet: a,
		Store:  &elect.Store{Dir: filepath.Join(dir, "state")},
		Config: elect.Config{GroupTags: elect.DefaultGroupTags(), Marker: elect.Marker{Path: filepath.Join(dir, "marker")}, Timeout: 10 * time.Second},
		Clock:  clock.Real{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// TestScaleElectionPaginatesTheGroupNotTheRegion: 1,000 instances in the
// group among 10,000 in the region. One election sees every member once,
// and its calls grow with the group, never with the region.
func TestScaleElectionPaginatesTheGroupNotTheRegion(t *testing.T) {
	if testing.Short() {
		t.Skip("launches 12,500 emulated instances")
	}
	for _, tc := range []struct{ region, group, calls int }{
		{10000, 1000, 1}, // MaxResults 1000: one page
		{12500, 2500, 3}, // three pages
		{2500, 1000, 1},  // a smaller region: the same calls
	} {
		f, members := fakeRegion(t, tc.region, tc.group)
		e := electorFor(t, members[len(members)-1].ID, f.URL())
		if _, _, err := e.Elect(context.Background()); err != nil { // warms the group cache
			t.Fatal(err)
		}
		f.ResetCalls()
		start := time.Now()
		v, candidates, err := e.Elect(context.Background())
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, c := range candidates {
			if seen[c.ID] {
				t.Errorf("%s listed twice across pages", c.ID)
			}
			seen[c.ID] = true
		}
		if len(seen) != tc.group || v.LeaderID != members[0].ID {
			t.Errorf("group %d of region %d: saw %d candidates, leader %s; want %d and %s", tc.group, tc.region, len(seen), v.LeaderID, tc.group, members[0].ID)
		}
		if got := f.FirstCalls("DescribeInstances"); got != tc.calls {
			t.Errorf("group %d of region %d: %d DescribeInstances, want %d", tc.group, tc.region, got, tc.calls)
		}
		t.Logf("group %5d of region %5d: %d DescribeInstances, election took %s", tc.group, tc.region, f.FirstCalls("DescribeInstances"), took.Round(time.Millisecond))
	}
}

// BenchmarkElection is one full, uncached election (IMDS, DescribeInstances,
// no CreateTags in steady state) against the in-process emulators, over
// real HTTP with the real SDK.
func BenchmarkElection(b *testing.B) {
	for _, size := range []struct{ region, group int }{{20, 5}, {10000, 1000}} {
		b.Run(fmt.Sprintf("group=%d/region=%d", size.group, size.region), func(b *testing.B) {
			f, members := fakeRegion(b, size.region, size.group)
			e := electorFor(b, members[0].ID, f.URL())
			if _, _, err := e.Elect(context.Background()); err != nil {
				b.Fatal(err)
			}
			f.ResetCalls()
			b.ResetTimer()
			for range b.N {
				if _, _, err := e.Elect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(f.Calls("DescribeInstances"))/float64(b.N), "DescribeInstances/op")
			b.ReportMetric(float64(f.Calls("CreateTags"))/float64(b.N), "CreateTags/op")
		})
	}
}

// BenchmarkElectionMoto is the same against moto_server.
func BenchmarkElectionMoto(b *testing.B) {
	moto := motoserver.ForTest(b)
	proxy := faultproxy.New(moto.URL)
	defer proxy.Close()
	ids := runInstances(b, moto, 5, "e-main")
	e := electorFor(b, ids[0], proxy.URL())
	if _, _, err := e.Elect(context.Background()); err != nil {
		b.Fatal(err)
	}
	before := proxy.Calls("DescribeInstances")
	b.ResetTimer()
	for range b.N {
		if _, _, err := e.Elect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(proxy.Calls("DescribeInstances")-before)/float64(b.N), "DescribeInstances/op")
}
