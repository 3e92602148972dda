package elect_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/motoserver"

	"github.com/leadergate/leadergate/internal/clock"
)

func drainElector(t *testing.T, id, ec2URL string) *elect.Elector {
	t.Helper()
	m := awsfake.NewIMDS(id, "us-east-1")
	t.Cleanup(m.Close)
	a := &elect.AWS{IMDSEndpoint: m.URL(), LoadOptions: append(slices.Clone(testCreds), config.WithBaseEndpoint(ec2URL))}
	dir := t.TempDir()
	return &elect.Elector{
		Identity: a, Fleet: a, SelfTags: a,
		Store: &elect.Store{Dir: filepath.Join(dir, "state")},
		Config: elect.Config{
			GroupTags: elect.DefaultGroupTags(),
			Marker:    elect.Marker{Path: filepath.Join(dir, "marker")},
			MaxAge:    time.Hour, // a cached verdict must not hide the drain
			Timeout:   5 * time.Second,
		},
		Clock:  clock.Real{},
		Logger: slog.New(slog.DiscardHandler),
	}
}

// A leader that drains follows at once (even from its cache, even before
// DescribeInstances shows its tags), the next oldest leads at its next
// election, and undrain gives leadership back. One CreateTags per drain and
// one DeleteTags per undrain, on the drained instance only.
func TestDrainHandsLeadershipToTheNextOldestAndUndrainTakesItBack(t *testing.T) {
	f := awsfake.NewEC2()
	defer f.Close()
	group := map[string]string{elect.TagEnvironmentID: "e-1"}
	old := f.Launch(awsfake.LaunchSpec{Tags: group})
	mid := f.Launch(awsfake.LaunchSpec{Tags: group, LaunchTime: old.LaunchTime.Add(time.Minute)})
	other := f.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-2"}})
	eOld, eMid := drainElector(t, old.ID, f.URL()), drainElector(t, mid.ID, f.URL())
	ctx := context.Background()

	for _, c := range []struct {
		e      *elect.Elector
		leader bool
	}{{eOld, true}, {eMid, false}} {
		if v, err := c.e.Decide(ctx, elect.Request{}); err != nil || v.Leader != c.leader {
			t.Fatalf("before the drain: %+v, %v; want leader %t", v, err, c.leader)
		}
	}
	f.ResetCalls()
	if err := eOld.Drain(ctx, elect.Drain{Reason: "spot interruption: terminate at 2026-12-01T23:00:00Z", Cause: "spot"}); err != nil {
		t.Fatal(err)
	}
	if v, err := eOld.Decide(ctx, elect.Request{}); err != nil || v.Leader || !strings.Contains(v.Reason, "draining") {
		t.Errorf("the drained leader's cached verdict: %+v, %v; want a follower saying it drains", v, err)
	}
	if _, err := os.Stat(eOld.Config.Marker.Path); !os.IsNotExist(err) {
		t.Errorf("the drained leader kept its marker: %v", err)
	}
	tags := f.Tags(old.ID)
	if _, err := time.Parse(time.RFC3339, tags[elect.DrainingTag]); err != nil || tags[elect.LeaderTag] != "false" ||
		!strings.HasPrefix(tags[elect.DrainingReasonTag], "spot interruption") {
		t.Errorf("tags of the drained instance: %v", tags)
	}
	for _, id := range []string{mid.ID, other.ID} {
		if tg := f.Tags(id); tg[elect.DrainingTag] != "" || tg[elect.DrainingReasonTag] != "" {
			t.Errorf("the drain tagged %s too: %v", id, tg)
		}
	}
	if n := f.Calls("CreateTags"); n != 1 {
		t.Errorf("one drain made %d CreateTags, want 1", n)
	}
	if v, err := eMid.Decide(ctx, elect.Request{Force: true}); err != nil || !v.Leader {
		t.Errorf("the next oldest after the drain: %+v, %v; want leader", v, err)
	}
	if v, err := eOld.Decide(ctx, elect.Request{Force: true}); err != nil || v.Leader || v.LeaderID != mid.ID {
		t.Errorf("the drained instance's fresh election: %+v, %v; want a follower of %s", v, err, mid.ID)
	}

	f.ResetCalls()
	if err := eOld.Undrain(ctx); err != nil {
		t.Fatal(err)
	}
	if n, c := f.Calls("DeleteTags"), f.CallLog(); n != 1 || c[0].Params.Get("ResourceId.1") != old.ID || c[0].Params.Get("ResourceId.2") != "" {
		t.Errorf("undrain: %d DeleteTags, calls %+v; want 1 on %s only", n, c, old.ID)
	}
	if tg := f.Tags(old.ID); tg[elect.DrainingTag] != "" || tg[elect.DrainingReasonTag] != "" {
		t.Errorf("undrain left %v", tg)
	}
	if _, has := f.Tags(old.ID)[elect.DrainingTag]; has {
		t.Error("undrain left the draining key")
	}
	if v, err := eOld.Decide(ctx, elect.Request{}); err != nil || !v.Leader {
		t.Errorf("after undrain: %+v, %v; want the oldest leading again", v, err)
	}
	// Undraining what is not drained is not an error.
	if err := eMid.Undrain(ctx); err != nil {
		t.Errorf("undrain without a drain: %v", err)
	}
}

// The local record wins over a lagging DescribeInstances: a drained leader
// never leads again because EC2 does not show its tag yet.
func TestADrainedInstanceFollowsWhileEC2DoesNotShowItsTagYet(t *testing.T) {
	f := awsfake.NewEC2()
	defer f.Close()
	old := f.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-1"}})
	e := drainElector(t, old.ID, f.URL())
	ctx := context.Background()
	if err := e.Drain(ctx, elect.Drain{Reason: "maintenance", Cause: elect.CauseOperator}); err != nil {
		t.Fatal(err)
	}
	// As if the CreateTags had not been seen by DescribeInstances yet.
	if err := f.DeleteTag(old.ID, elect.DrainingTag); err != nil {
		t.Fatal(err)
	}
	f.ResetCalls()
	v, err := e.Decide(ctx, elect.Request{Force: true})
	if err != nil || v.Leader || !strings.Contains(v.Reason, "nobody") && !strings.Contains(v.Reason, "draining") {
		t.Errorf("fresh election of a drained instance whose tag EC2 does not show: %+v, %v", v, err)
	}
	// Within a minute of the drain that is taken for EC2's lag: no new CreateTags.
	if n := f.Calls("CreateTags"); n != 0 {
		t.Errorf("%d CreateTags within the consistency allowance, want 0", n)
	}
	d, ok, err := e.Draining(ctx)
	if err != nil || !ok || d.Reason != "maintenance" || d.Automatic() {
		t.Errorf("Draining() = %+v, %t, %v", d, ok, err)
	}
}

// The same against moto_server, an independent emulator: the tags are set
// and cleared with CreateTags / DeleteTags on the instance itself only.
func TestMotoDrainTagsOnlySelf(t *testing.T) {
	m := motoserver.ForTest(t)
	ids := runInstances(t, m, 3, "e-moto")
	ctx := context.Background()
	// Launched in one second: the id breaks the tie. Drain the leader.
	v, err := drainElector(t, ids[0], m.URL).Decide(ctx, elect.Request{})
	if err != nil {
		t.Fatal(err)
	}
	leader := slices.Index(ids, v.LeaderID)
	ids[0], ids[leader] = ids[leader], ids[0]
	e := drainElector(t, ids[0], m.URL)
	if err := e.Drain(ctx, elect.Drain{Reason: "operator: kernel update", Cause: elect.CauseOperator}); err != nil {
		t.Fatal(err)
	}
	tagsOf := func() map[string]map[string]string {
		out, err := m.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		all := map[string]map[string]string{}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				all[aws.ToString(i.InstanceId)] = tagMap(i.Tags)
			}
		}
		return all
	}
	all := tagsOf()
	if all[ids[0]][elect.DrainingTag] == "" || all[ids[0]][elect.DrainingReasonTag] != "operator: kernel update" || all[ids[0]][elect.LeaderTag] != "false" {
		t.Errorf("drained instance's tags in moto: %v", all[ids[0]])
	}
	for _, id := range ids[1:] {
		if _, has := all[id][elect.DrainingTag]; has {
			t.Errorf("the drain tagged %s too", id)
		}
	}
	// Another instance's election sees it and passes over it.
	if v, err := drainElector(t, ids[1], m.URL).Decide(ctx, elect.Request{Force: true}); err != nil || v.LeaderID == ids[0] || v.LeaderID == "" || v.Draining != 1 {
		t.Errorf("second oldest's election with the oldest drained: %+v, %v", v, err)
	}
	if err := e.Undrain(ctx); err != nil {
		t.Fatal(err)
	}
	for id, tags := range tagsOf() {
		if _, has := tags[elect.DrainingTag]; has {
			t.Errorf("after undrain %s still has %v", id, tags)
		}
		if _, has := tags[elect.DrainingReasonTag]; has {
			t.Errorf("after undrain %s still has %v", id, tags)
		}
	}
}

func tagMap(ts []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}
