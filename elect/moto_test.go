package elect_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/motoserver"

	"github.com/leadergate/leadergate/internal/clock"
)

var testCreds = []func(*config.LoadOptions) error{
	config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")),
	config.WithSharedConfigFiles([]string{}),
	config.WithSharedCredentialsFiles([]string{}),
}

func runInstances(t testing.TB, m *motoserver.Moto, n int, env string) []string {
	t.Helper()
	ids, err := m.Launch(context.Background(), n, map[string]string{elect.TagEnvironmentID: env})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// instance is one simulated EC2 instance with its own IMDS, state dir and marker.
type instance struct {
	id string
	el *elect.Elector
}

func newInstance(t *testing.T, id, ec2URL string) *instance {
	m := awsfake.NewIMDS(id, "us-east-1")
	t.Cleanup(m.Close)
	a := &elect.AWS{IMDSEndpoint: m.URL(), LoadOptions: append(slices.Clone(testCreds), config.WithBaseEndpoint(ec2URL))}
	dir := t.TempDir()
	return &instance{id: id, el: &elect.Elector{
		Identity: a, Fleet: a,
		Store: &elect.Store{Dir: filepath.Join(dir, "state")},
		Config: elect.Config{
			GroupTags: elect.DefaultGroupTags(),
			Marker:    elect.Marker{Path: filepath.Join(dir, "leader-manager-is-leader")},
			Timeout:   3 * time.Second,
		},
		Clock:  clock.Real{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
}

type roundResult struct {
	leaders []string
	failed  map[int]int // exit code -> count
}

// round makes every instance elect at the same moment, as cron fires them.
func round(instances []*instance) roundResult {
	r := roundResult{failed: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := in.el.Decide(context.Background(), elect.Request{Force: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				r.failed[elect.CannotTell(err)]++
			case v.Leader:
				r.leaders = append(r.leaders, in.id)
			}
		}()
	}
	wg.Wait()
	return r
}

// taggedLeaders lists the running instances of env tagged leader=true, read
// straight from moto.
func taggedLeaders(t *testing.T, c *ec2.Client, env string) (tagged []string, oldest string) {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + elect.TagEnvironmentID), Values: []string{env}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var all []elect.Instance
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			in := elect.Instance{ID: *i.InstanceId, LaunchTime: *i.LaunchTime, State: "running"}
			all = append(all, in)
			for _, tag := range i.Tags {
				if *tag.Key == elect.LeaderTag && *tag.Value == "true" {
					tagged = append(tagged, in.ID)
				}
			}
		}
	}
	return tagged, elect.Choose("", all).LeaderID
}

func TestMotoTwoEnvironments(t *testing.T) {
	moto := motoserver.ForTest(t)
	proxy := faultproxy.New(moto.URL)
	t.Cleanup(proxy.Close)
	direct := moto.EC2

	// The other environment is launched first, so it is older: counting it
	// would make one of its instances the leader.
	others := runInstances(t, moto, 5, "e-other")
	time.Sleep(1100 * time.Millisecond) // launch times have one-second resolution
	ids := runInstances(t, moto, 10, "e-main")
	var fleet []*instance
	for _, id := range ids {
		fleet = append(fleet, newInstance(t, id, proxy.URL()))
	}

	expectOneLeader := func(name string) string {
		t.Helper()
		r := round(fleet)
		tagged, oldest := taggedLeaders(t, direct, "e-main")
		if len(r.leaders) != 1 || r.leaders[0] != oldest || len(r.failed) != 0 {
			t.Fatalf("%s: leaders %v, failures %v; want exactly the oldest running instance %s", name, r.leaders, r.failed, oldest)
		}
		if len(tagged) != 1 || tagged[0] != oldest {
			t.Fatalf("%s: running instances tagged leader=true: %v, want [%s]", name, tagged, oldest)
		}
		for _, in := range fleet {
			_, err := os.Stat(in.el.Config.Marker.Path)
			if has := err == nil; has != (in.id == oldest) {
				t.Errorf("%s: %s has marker %t, leader is %s", name, in.id, has, oldest)
			}
		}
		return oldest
	}
	calls := func() (int, int) { return proxy.Calls("DescribeInstances"), proxy.Calls("CreateTags") }

	leader := expectOneLeader("first round")
	d0, c0 := calls()

	expectOneLeader("steady round")
	d1, c1 := calls()
	if d1-d0 != len(fleet) || c1 != c0 {
		t.Errorf("steady round: %d DescribeInstances and %d CreateTags for %d instances; want %d and 0", d1-d0, c1-c0, len(fleet), len(fleet))
	}

	// The leader dies: the next round has exactly one new leader.
	if _, err := direct.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{leader}}); err != nil {
		t.Fatal(err)
	}
	fleet = slices.DeleteFunc(fleet, func(in *instance) bool { return in.id == leader })
	if next := expectOneLeader("after the leader terminated"); next == leader {
		t.Fatal("terminated leader still leads")
	}

	// Younger instances join: leadership does not move.
	before := expectOneLeader("before scale-out")
	// Launch times have one-second resolution, and a tie goes to the
	// smaller id: a scale-out in the same second as the first launch could
	// rightly take over. Real scale-outs come later.
	time.Sleep(1100 * time.Millisecond)
	for _, id := range runInstances(t, moto, 2, "e-main") {
		fleet = append(fleet, newInstance(t, id, proxy.URL()))
	}
	if after := expectOneLeader("after scale-out"); after != before {
		t.Errorf("scale-out moved leadership from %s to %s", before, after)
	}

	// Throttling: nobody leads, everybody fails closed with exit 75 and the marker goes.
	proxy.Inject(awsfake.Fault{Kind: awsfake.Throttle})
	r := round(fleet)
	if len(r.leaders) != 0 || r.failed[exitcode.TempFail] != len(fleet) {
		t.Errorf("throttled round: leaders %v, failures %v; want none and %d exit 75", r.leaders, r.failed, len(fleet))
	}
	for _, in := range fleet {
		if _, err := os.Stat(in.el.Config.Marker.Path); err == nil {
			t.Errorf("throttled round: %s kept its marker", in.id)
		}
	}
	proxy.ClearFaults()
	expectOneLeader("after throttling")

	// The other environment was never counted or tagged.
	tagged, _ := taggedLeaders(t, direct, "e-other")
	if len(tagged) != 0 {
		t.Errorf("instances of the other environment tagged leader=true: %v", tagged)
	}
	out, err := direct.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: others})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range out.Reservations {
		for _, i := range res.Instances {
			for _, tag := range i.Tags {
				if *tag.Key == elect.LeaderTag {
					t.Errorf("other environment's %s tagged %s=%s", *i.InstanceId, *tag.Key, *tag.Value)
				}
			}
		}
	}
}
