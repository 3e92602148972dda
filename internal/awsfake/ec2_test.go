package awsfake_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/leadergate/leadergate/internal/awsfake"
)

const groupTag = "elasticbeanstalk:environment-id"

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// describeAll pages through DescribeInstances with the SDK paginator.
func describeAll(t *testing.T, c *ec2.Client, in *ec2.DescribeInstancesInput) (instances []types.Instance, pages int) {
	t.Helper()
	p := ec2.NewDescribeInstancesPaginator(c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(testContext(t))
		if err != nil {
			t.Fatalf("describe instances, page %d: %v", pages+1, err)
		}
		pages++
		for _, r := range out.Reservations {
			instances = append(instances, r.Instances...)
		}
	}
	return instances, pages
}

func ids(instances []types.Instance) []string {
	out := make([]string, 0, len(instances))
	for _, in := range instances {
		out = append(out, aws.ToString(in.InstanceId))
	}
	slices.Sort(out)
	return out
}

func sortedIDs(instances ...awsfake.Instance) []string {
	out := make([]string, 0, len(instances))
	for _, in := range instances {
		out = append(out, in.ID)
	}
	slices.Sort(out)
	return out
}

func TestDescribeInstancesFiltersTheGroupsRunningInstances(t *testing.T) {
	e := newEC2(t)
	c := newClient(e)
	a1 := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa", "Name": "web"}})
	a2 := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
	a3 := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
	b1 := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-bbb"}})
	none := e.Launch(awsfake.LaunchSpec{})
	if err := e.Stop(a3.ID); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		filters []types.Filter
		ids     []string
		want    []string
	}{
		{"group tag and running excludes the stopped one and the other group",
			[]types.Filter{filter("tag:"+groupTag, "e-aaa"), filter("instance-state-name", "running")}, nil,
			sortedIDs(a1, a2)},
		{"values of one filter are ORed",
			[]types.Filter{filter("tag:"+groupTag, "e-aaa", "e-bbb"), filter("instance-state-name", "running")}, nil,
			sortedIDs(a1, a2, b1)},
		{"group tag alone includes stopped instances",
			[]types.Filter{filter("tag:"+groupTag, "e-aaa")}, nil,
			sortedIDs(a1, a2, a3)},
		{"tag-key matches any value",
			[]types.Filter{filter("tag-key", groupTag)}, nil,
			sortedIDs(a1, a2, a3, b1)},
		{"wildcards match as in EC2",
			[]types.Filter{filter("tag:"+groupTag, "e-a*"), filter("instance-state-name", "stopp?d")}, nil,
			sortedIDs(a3)},
		{"instance-id filter",
			[]types.Filter{filter("instance-id", a2.ID, none.ID)}, nil,
			sortedIDs(a2, none)},
		{"instance ids as parameters, with a filter",
			[]types.Filter{filter("instance-state-name", "running")}, []string{a1.ID, a3.ID, b1.ID},
			sortedIDs(a1, b1)},
		{"a tag value nobody has matches nothing",
			[]types.Filter{filter("tag:"+groupTag, "e-zzz")}, nil,
			nil},
		{"no filter lists the region",
			nil, nil,
			sortedIDs(a1, a2, a3, b1, none)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: tc.filters, InstanceIds: tc.ids})
			if g := ids(got); !slices.Equal(g, tc.want) {
				t.Errorf("got %v, want %v", g, tc.want)
			}
		})
	}
}

func TestDescribeInstancesShowsWhatTheElectionReads(t *testing.T) {
	clock := newFakeClock()
	e := newEC2(t, awsfake.WithClock(clock.Now))
	c := newClient(e)
	launched := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa", "leader": "false"}, InstanceType: "t4g.small"})

	out, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{InstanceIds: []string{launched.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("got %d reservations, want one with one instance", len(out.Reservations))
	}
	r := out.Reservations[0]
	in := r.Instances[0]
	if aws.ToString(r.ReservationId) != launched.ReservationID || aws.ToString(r.OwnerId) != "123456789012" {
		t.Errorf("reservation %s owner %s, want %s owner 123456789012", aws.ToString(r.ReservationId), aws.ToString(r.OwnerId), launched.ReservationID)
	}
	if got := aws.ToString(in.InstanceId); got != launched.ID || !strings.HasPrefix(got, "i-") || len(got) != 19 {
		t.Errorf("instance id %q, want %q of the form i- and 17 hex digits", got, launched.ID)
	}
	wantLaunch := clock.Now().Truncate(time.Second)
	if got := aws.ToTime(in.LaunchTime); !got.Equal(wantLaunch) {
		t.Errorf("launch time %v, want %v (one-second resolution)", got, wantLaunch)
	}
	if in.State.Name != types.InstanceStateNameRunning || aws.ToInt32(in.State.Code) != 16 {
		t.Errorf("state %s/%d, want running/16", in.State.Name, aws.ToInt32(in.State.Code))
	}
	if in.InstanceType != types.InstanceType("t4g.small") || aws.ToString(in.Placement.AvailabilityZone) != "us-east-1a" || aws.ToString(in.PrivateIpAddress) != launched.PrivateIP {
		t.Errorf("type %s zone %s ip %s, want t4g.small us-east-1a %s", in.InstanceType, aws.ToString(in.Placement.AvailabilityZone), aws.ToString(in.PrivateIpAddress), launched.PrivateIP)
	}
	tags := map[string]string{}
	for _, tg := range in.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags[groupTag] != "e-aaa" || tags["leader"] != "false" || len(tags) != 2 {
		t.Errorf("tags %v, want the two launched with", tags)
	}
}

func TestPaginatorReturnsEveryInstanceExactlyOnce(t *testing.T) {
	e := newEC2(t)
	c := newClient(e)
	var want []awsfake.Instance
	for i := range 1300 {
		group := "e-aaa"
		if i%4 == 3 {
			group = "e-bbb"
		}
		in := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: group}})
		if group == "e-aaa" {
			want = append(want, in)
		}
	}
	e.ResetCalls()
	got, pages := describeAll(t, c, &ec2.DescribeInstancesInput{
		Filters:    []types.Filter{filter("tag:"+groupTag, "e-aaa"), filter("instance-state-name", "running")},
		MaxResults: aws.Int32(100),
	})
	if len(got) != len(want) {
		t.Errorf("got %d instances, want %d", len(got), len(want))
	}
	if g, w := ids(got), sortedIDs(want...); !slices.Equal(slices.Compact(slices.Clone(g)), w) {
		t.Errorf("the pages do not hold each of the %d instances exactly once", len(w))
	}
	if wantPages := (len(want) + 99) / 100; pages != wantPages {
		t.Errorf("got %d pages, want %d", pages, wantPages)
	}
	// First attempts only: against a server this fast the SDK sometimes
	// closes a request body the transport still probes, and retries the
	// resulting "use of closed network connection" (aws-sdk-go-v2#2737).
	if firsts := firstAttempts(e, "DescribeInstances"); firsts != pages {
		t.Errorf("emulator counted %d DescribeInstances first attempts for %d pages", firsts, pages)
	}
	// Without MaxResults, one answer holds everything.
	out, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != len(want) || out.NextToken != nil {
		t.Errorf("without MaxResults got %d reservations and token %v, want %d and none", len(out.Reservations), out.NextToken, len(want))
	}
}

func TestPaginationSurvivesChangesBetweenPages(t *testing.T) {
	e := newEC2(t)
	c := newClient(e)
	var group []awsfake.Instance
	for range 40 {
		group = append(group, e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}}))
	}
	in := &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa")}, MaxResults: aws.Int32(10)}
	p := ec2.NewDescribeInstancesPaginator(c, in)
	seen := map[string]int{}
	for page := 0; p.HasMorePages(); page++ {
		out, err := p.NextPage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Reservations {
			seen[aws.ToString(r.Instances[0].InstanceId)]++
		}
		if page == 1 {
			// Tags and launches between pages must not repeat anyone.
			for _, g := range group {
				if err := e.SetTag(g.ID, "leader", "false"); err != nil {
					t.Fatal(err)
				}
			}
			e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
		}
	}
	for _, g := range group {
		if seen[g.ID] != 1 {
			t.Errorf("%s seen %d times across pages, want once", g.ID, seen[g.ID])
		}
	}
}

func TestDescribeInstancesRefusesWhatAWSRefuses(t *testing.T) {
	e := newEC2(t)
	c := newClient(e, fastRetries(1))
	in := e.Launch(awsfake.LaunchSpec{})
	cases := []struct {
		name string
		in   *ec2.DescribeInstancesInput
		code string
	}{
		{"MaxResults with instance ids", &ec2.DescribeInstancesInput{InstanceIds: []string{in.ID}, MaxResults: aws.Int32(5)}, "InvalidParameterCombination"},
		{"MaxResults below 5", &ec2.DescribeInstancesInput{MaxResults: aws.Int32(4)}, "InvalidParameterValue"},
		{"MaxResults above 1000", &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1001)}, "InvalidParameterValue"},
		{"unknown filter name", &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag-value", "x")}}, "InvalidParameterValue"},
		{"filter without values", &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-name")}}, "InvalidParameterValue"},
		{"unknown instance id", &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}}, "InvalidInstanceID.NotFound"},
		{"malformed instance id", &ec2.DescribeInstancesInput{InstanceIds: []string{"web-1"}}, "InvalidInstanceID.Malformed"},
		{"forged NextToken", &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), NextToken: aws.String("bm9wZQ")}, "InvalidPaginationToken"},
		{"dry run", &ec2.DescribeInstancesInput{DryRun: aws.Bool(true)}, "DryRunOperation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.DescribeInstances(testContext(t), tc.in)
			if code := apiCode(err); code != tc.code {
				t.Errorf("got error %v (code %q), want code %s", err, code, tc.code)
			}
		})
	}
}

func TestNextTokenBelongsToItsFilters(t *testing.T) {
	e := newEC2(t)
	c := newClient(e, fastRetries(3)) // the first page is large: see firstAttempts
	for range 12 {
		e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
	}
	out, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa")}, MaxResults: aws.Int32(5)})
	if err != nil || out.NextToken == nil {
		t.Fatalf("first page: token %v, err %v; want a token", out.NextToken, err)
	}
	_, err = c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-bbb")}, MaxResults: aws.Int32(5), NextToken: out.NextToken})
	if code := apiCode(err); code != "InvalidPaginationToken" {
		t.Errorf("token reused with other filters: got %v, want InvalidPaginationToken", err)
	}
}

func TestCreateTagsIsVisibleInTheNextDescribe(t *testing.T) {
	e := newEC2(t)
	c := newClient(e, fastRetries(1))
	a := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
	b := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})

	_, err := c.CreateTags(testContext(t), &ec2.CreateTagsInput{
		Resources: []string{a.ID},
		Tags:      []types.Tag{{Key: aws.String("leader"), Value: aws.String("true")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:leader", "true")}})
	if g := ids(got); !slices.Equal(g, []string{a.ID}) {
		t.Errorf("instances tagged leader=true: %v, want only %s", g, a.ID)
	}
	if tags := e.Tags(b.ID); tags["leader"] != "" {
		t.Errorf("CreateTags on %s also tagged %s: %v", a.ID, b.ID, tags)
	}
	// Changing the value moves the instance out of the old value's index.
	if _, err := c.CreateTags(testContext(t), &ec2.CreateTagsInput{Resources: []string{a.ID}, Tags: []types.Tag{{Key: aws.String("leader"), Value: aws.String("false")}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:leader", "true")}}); len(got) != 0 {
		t.Errorf("leader=true still matches %v after retagging false", ids(got))
	}

	cases := []struct {
		name string
		in   *ec2.CreateTagsInput
		code string
	}{
		{"unknown instance", &ec2.CreateTagsInput{Resources: []string{a.ID, "i-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("leader"), Value: aws.String("true")}}}, "InvalidInstanceID.NotFound"},
		{"malformed id", &ec2.CreateTagsInput{Resources: []string{"leader"}, Tags: []types.Tag{{Key: aws.String("leader"), Value: aws.String("true")}}}, "InvalidID"},
		{"reserved aws: prefix", &ec2.CreateTagsInput{Resources: []string{a.ID}, Tags: []types.Tag{{Key: aws.String("aws:autoscaling:groupName"), Value: aws.String("x")}}}, "InvalidParameterValue"},
		{"dry run", &ec2.CreateTagsInput{Resources: []string{a.ID}, Tags: []types.Tag{{Key: aws.String("leader"), Value: aws.String("true")}}, DryRun: aws.Bool(true)}, "DryRunOperation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateTags(testContext(t), tc.in)
			if code := apiCode(err); code != tc.code {
				t.Errorf("got %v (code %q), want code %s", err, code, tc.code)
			}
			if e.Tags(a.ID)["leader"] != "false" {
				t.Errorf("a refused CreateTags changed the tags: %v", e.Tags(a.ID))
			}
		})
	}
}

func TestTerminatedInstancesStayListedForAnHour(t *testing.T) {
	clock := newFakeClock()
	e := newEC2(t, awsfake.WithClock(clock.Now))
	c := newClient(e)
	in := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
	if err := e.Terminate(in.ID); err != nil {
		t.Fatal(err)
	}
	running, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa"), filter("instance-state-name", "running")}})
	if len(running) != 0 {
		t.Errorf("terminated instance still matches instance-state-name=running")
	}
	all, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa")}})
	if len(all) != 1 || all[0].State.Name != types.InstanceStateNameTerminated || aws.ToInt32(all[0].State.Code) != 48 {
		t.Fatalf("want the terminated instance listed as terminated/48, got %d instances", len(all))
	}
	clock.Add(61 * time.Minute)
	if all, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa")}}); len(all) != 0 {
		t.Errorf("terminated instance still listed an hour later")
	}
	if err := e.Start(in.ID); err == nil {
		t.Errorf("starting a terminated instance succeeded")
	}
}

func TestConsistencyLagKeepsATerminatedLeaderRunning(t *testing.T) {
	clock := newFakeClock()
	e := newEC2(t, awsfake.WithClock(clock.Now))
	c := newClient(e)
	e.SetConsistencyLag(30 * time.Second)
	in := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
	if err := e.Terminate(in.ID); err != nil {
		t.Fatal(err)
	}
	query := &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa"), filter("instance-state-name", "running")}}
	clock.Add(29 * time.Second)
	if got, _ := describeAll(t, c, query); len(got) != 1 {
		t.Errorf("within the lag, the terminated instance should still show as running; got %d", len(got))
	}
	if st, _ := e.Instance(in.ID); st.State != awsfake.StateTerminated {
		t.Errorf("the state API shows %s, want the truth: terminated", st.State)
	}
	clock.Add(2 * time.Second)
	if got, _ := describeAll(t, c, query); len(got) != 0 {
		t.Errorf("after the lag, the terminated instance still shows as running")
	}
}

func TestStopStartResetsLaunchTime(t *testing.T) {
	clock := newFakeClock()
	e := newEC2(t, awsfake.WithClock(clock.Now))
	c := newClient(e)
	old := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
	clock.Add(time.Hour)
	young := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
	if err := e.Stop(old.ID); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	if err := e.Start(old.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa"), filter("instance-state-name", "running")}})
	launch := map[string]time.Time{}
	for _, in := range got {
		launch[aws.ToString(in.InstanceId)] = aws.ToTime(in.LaunchTime)
	}
	if want := clock.Now().Truncate(time.Second); !launch[old.ID].Equal(want) {
		t.Errorf("restarted instance launch time %v, want %v (reset by start)", launch[old.ID], want)
	}
	if !launch[young.ID].Before(launch[old.ID]) {
		t.Errorf("after stop/start the old instance must be the younger: %v vs %v", launch[old.ID], launch[young.ID])
	}
}

func TestFaultsSurfaceAsSDKErrors(t *testing.T) {
	cases := []struct {
		name   string
		fault  awsfake.Fault
		code   string
		status int
	}{
		{"throttling", awsfake.Fault{Kind: awsfake.Throttle}, "RequestLimitExceeded", 503},
		{"internal error", awsfake.Fault{Kind: awsfake.InternalError, Action: "DescribeInstances"}, "InternalError", 500},
		{"missing permission", awsfake.Fault{Kind: awsfake.Unauthorized, Action: "DescribeInstances"}, "UnauthorizedOperation", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEC2(t)
			c := newClient(e, fastRetries(1))
			e.Launch(awsfake.LaunchSpec{})
			e.Inject(tc.fault)
			_, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{})
			if code, status := apiCode(err), httpStatus(err); code != tc.code || status != tc.status {
				t.Errorf("got %v (code %q, HTTP %d), want %s, HTTP %d", err, code, status, tc.code, tc.status)
			}
			e.ClearFaults()
			if _, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{}); err != nil {
				t.Errorf("after ClearFaults: %v", err)
			}
		})
	}
}

func TestSDKRetriesThrottlingAndServerErrorsButNotPermissions(t *testing.T) {
	e := newEC2(t)
	c := newClient(e, fastRetries(3))
	e.Launch(awsfake.LaunchSpec{})

	e.Inject(awsfake.Fault{Kind: awsfake.Throttle, Action: "DescribeInstances", Count: 2})
	if _, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("two throttles then success, with 3 attempts: %v", err)
	}
	var attempts []int
	for _, call := range e.CallLog() {
		attempts = append(attempts, call.Attempt)
	}
	if !slices.Equal(attempts, []int{1, 2, 3}) {
		t.Errorf("SDK attempts seen by the emulator: %v, want [1 2 3]", attempts)
	}
	if log := e.CallLog(); log[0].Code != "RequestLimitExceeded" || log[0].Status != 503 || log[2].Status != 200 {
		t.Errorf("call log does not record the answers: %+v", log)
	}

	e.ResetCalls()
	e.Inject(awsfake.Fault{Kind: awsfake.InternalError, Count: 5})
	_, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{})
	if apiCode(err) != "InternalError" || e.Calls("DescribeInstances") != 3 {
		t.Errorf("persistent 500s: got %v after %d calls, want InternalError after 3", err, e.Calls("DescribeInstances"))
	}
	e.ClearFaults()

	e.ResetCalls()
	e.Inject(awsfake.Fault{Kind: awsfake.Unauthorized, Action: "CreateTags"})
	if _, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("a CreateTags fault broke DescribeInstances: %v", err)
	}
	in := e.Instances()[0]
	_, err = c.CreateTags(testContext(t), &ec2.CreateTagsInput{Resources: []string{in.ID}, Tags: []types.Tag{{Key: aws.String("leader"), Value: aws.String("true")}}})
	if apiCode(err) != "UnauthorizedOperation" || e.Calls("CreateTags") != 1 {
		t.Errorf("UnauthorizedOperation: got %v after %d calls, want it after 1 (not retried)", err, e.Calls("CreateTags"))
	}
	if e.Tags(in.ID)["leader"] != "" {
		t.Errorf("an unauthorized CreateTags changed the tags")
	}
}

func TestHangAnswersLateOrNever(t *testing.T) {
	e := newEC2(t)
	c := newClient(e, fastRetries(1))
	e.Launch(awsfake.LaunchSpec{})

	e.Inject(awsfake.Fault{Kind: awsfake.Hang, Count: 1})
	ctx, cancel := context.WithTimeout(testContext(t), 200*time.Millisecond)
	defer cancel()
	_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err == nil || ctx.Err() == nil {
		t.Errorf("a hung call returned %v before the caller's deadline", err)
	}
	if n := e.Calls("DescribeInstances"); n != 1 {
		t.Errorf("the hung call was not recorded: %d calls", n)
	}

	e.Inject(awsfake.Fault{Kind: awsfake.Hang, Delay: 50 * time.Millisecond})
	start := time.Now()
	if _, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("a delayed answer failed: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("a 50ms hang answered after %v", d)
	}
	e.ClearFaults()

	e.SetLatency(20 * time.Millisecond)
	start = time.Now()
	if _, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("latency 20ms, answered after %v", d)
	}
}

func TestCloseEndsHangingCalls(t *testing.T) {
	e := awsfake.NewEC2(awsfake.WithSeed(1))
	c := newClient(e, fastRetries(1))
	e.Inject(awsfake.Fault{Kind: awsfake.Hang})
	errc := make(chan error, 1)
	go func() {
		_, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{})
		errc <- err
	}()
	for e.Calls("") == 0 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	if err := <-errc; err == nil {
		t.Error("a call cut by Close succeeded")
	}
}

func TestUnknownActionsAreRefused(t *testing.T) {
	e := newEC2(t)
	c := newClient(e, fastRetries(1))
	_, err := c.DescribeRegions(testContext(t), &ec2.DescribeRegionsInput{})
	if code := apiCode(err); code != "InvalidAction" {
		t.Errorf("DescribeRegions: got %v, want InvalidAction", err)
	}
	if n := e.Calls("DescribeRegions"); n != 1 {
		t.Errorf("refused call not recorded: Calls(DescribeRegions) = %d", n)
	}
}

func TestRequestsMustBeSignedForTheRegion(t *testing.T) {
	e := newEC2(t)

	// A bare POST, as curl would send it, gets the EC2 error document.
	resp, err := http.Post(e.URL(), "application/x-www-form-urlencoded", strings.NewReader(url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "<Response><Errors><Error><Code>AuthFailure</Code>") || !strings.Contains(string(body), "<RequestID>") {
		t.Errorf("unsigned request: HTTP %d %s, want 401 and an AuthFailure error document", resp.StatusCode, body)
	}

	cases := []struct {
		name string
		opt  func(*ec2.Options)
	}{
		{"signed for another region", func(o *ec2.Options) { o.Region = "eu-west-1" }},
		{"wrong secret key", func(o *ec2.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(testAccessKey, "not-the-secret", "")
		}},
		{"unknown access key", func(o *ec2.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider("AKIDOTHER", testSecretKey, "")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(e, fastRetries(1), tc.opt)
			_, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{})
			if code, status := apiCode(err), httpStatus(err); code != "AuthFailure" || status != 401 {
				t.Errorf("got %v (code %q, HTTP %d), want AuthFailure, 401", err, code, status)
			}
		})
	}
}

func TestCallCounters(t *testing.T) {
	e := newEC2(t)
	c := newClient(e)
	in := e.Launch(awsfake.LaunchSpec{})
	for range 3 {
		if _, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{InstanceIds: []string{in.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateTags(testContext(t), &ec2.CreateTagsInput{Resources: []string{in.ID}, Tags: []types.Tag{{Key: aws.String("leader"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	if d, ct, all := firstAttempts(e, "DescribeInstances"), firstAttempts(e, "CreateTags"), firstAttempts(e, ""); d != 3 || ct != 1 || all != 4 {
		t.Errorf("Calls: describe %d, create tags %d, all %d; want 3, 1, 4", d, ct, all)
	}
	log := e.CallLog()
	if p := log[len(log)-1].Params; p.Get("ResourceId.1") != in.ID || p.Get("Tag.1.Key") != "leader" || p.Get("Tag.1.Value") != "true" {
		t.Errorf("call log params %v do not show the CreateTags request", p)
	}
	e.ResetCalls()
	if n := e.Calls(""); n != 0 {
		t.Errorf("after ResetCalls: %d calls", n)
	}
}

func TestSeedMakesIDsDeterministic(t *testing.T) {
	a, b := newEC2(t, awsfake.WithSeed(42)), newEC2(t, awsfake.WithSeed(42))
	for i := range 5 {
		x, y := a.Launch(awsfake.LaunchSpec{}), b.Launch(awsfake.LaunchSpec{})
		if x.ID != y.ID {
			t.Errorf("launch %d: ids %s and %s differ with the same seed", i, x.ID, y.ID)
		}
	}
	if c := newEC2(t, awsfake.WithSeed(43)).Launch(awsfake.LaunchSpec{}); c.ID == a.Instances()[0].ID {
		t.Errorf("another seed gave the same id %s", c.ID)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEC2(t)
	c := newClient(e)
	var group []awsfake.Instance
	for range 50 {
		group = append(group, e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				me := group[(i*10+j)%len(group)]
				if _, err := c.DescribeInstances(testContext(t), &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:"+groupTag, "e-aaa"), filter("instance-state-name", "running")}, MaxResults: aws.Int32(10)}); err != nil {
					errs <- err
				}
				if _, err := c.CreateTags(testContext(t), &ec2.CreateTagsInput{Resources: []string{me.ID}, Tags: []types.Tag{{Key: aws.String("leader"), Value: aws.String(fmt.Sprint(j%2 == 0))}}}); err != nil {
					errs <- err
				}
				if j == 5 {
					e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa"}})
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := firstAttempts(e, ""); n != 160 {
		t.Errorf("recorded %d calls, want 160", n)
	}
}

// firstAttempts counts the calls for action ("" for all) that were the
// SDK's first attempt, so that a transparent retry does not change counts.
func firstAttempts(e *awsfake.EC2, action string) int {
	n := 0
	for _, c := range e.CallLog() {
		if (action == "" || c.Action == action) && c.Attempt == 1 {
			n++
		}
	}
	return n
}

func TestDeleteTagsRemovesOnlyTheNamedKeysOfTheNamedInstance(t *testing.T) {
	e := newEC2(t)
	c := newClient(e, fastRetries(1))
	a := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa", "leadergate:draining": "2026-01-01T00:00:00Z", "keep": "x"}})
	b := e.Launch(awsfake.LaunchSpec{Tags: map[string]string{groupTag: "e-aaa", "leadergate:draining": "2026-01-01T00:00:00Z"}})
	_, err := c.DeleteTags(testContext(t), &ec2.DeleteTagsInput{
		Resources: []string{a.ID},
		Tags:      []types.Tag{{Key: aws.String("leadergate:draining")}, {Key: aws.String("absent")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tags := e.Tags(a.ID); tags["keep"] != "x" || tags[groupTag] != "e-aaa" || len(tags) != 2 {
		t.Errorf("tags of %s after DeleteTags: %v, want only %s and keep", a.ID, tags, groupTag)
	}
	if _, ok := e.Tags(b.ID)["leadergate:draining"]; !ok {
		t.Errorf("DeleteTags on %s also untagged %s", a.ID, b.ID)
	}
	got, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag-key", "leadergate:draining")}})
	if g := ids(got); !slices.Equal(g, []string{b.ID}) {
		t.Errorf("instances with the draining key: %v, want only %s", g, b.ID)
	}
	// A value given deletes only on a match.
	if _, err := c.DeleteTags(testContext(t), &ec2.DeleteTagsInput{Resources: []string{a.ID}, Tags: []types.Tag{{Key: aws.String("keep"), Value: aws.String("y")}}}); err != nil {
		t.Fatal(err)
	}
	if e.Tags(a.ID)["keep"] != "x" {
		t.Error("DeleteTags with another value removed the tag")
	}
	if _, err := c.DeleteTags(testContext(t), &ec2.DeleteTagsInput{Resources: []string{"i-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("keep")}}}); err == nil || !strings.Contains(err.Error(), "InvalidInstanceID.NotFound") {
		t.Errorf("DeleteTags on an unknown instance: %v, want InvalidInstanceID.NotFound", err)
	}
}
