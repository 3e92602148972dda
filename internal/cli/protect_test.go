package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/motoserver"
)

// schedule --protect through the binary against moto_server's EC2 and Auto
// Scaling: the leader is protected from scale-in while its leader-only job
// runs, unprotected when it ends, and the other instances never are.
func TestScheduleProtectAgainstMoto(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	m := motoserver.ForTest(t)
	protected := m.CreateASG(t, "web-asg", 2)
	leader := oldestRunningIn(t, m.EC2)

	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	cron := writeCrontab(t, dir, "leader-jobs.cron", fmt.Sprintf(
		"# name: long\n* * * * * * touch %s; while [ ! -e %s ]; do sleep 0.05; done\n", started, release))
	var scheds []*scheduler
	for id := range protected() {
		n := newNode(t, id, m.URL)
		n.env = append(n.env, "AWS_ENDPOINT_URL_AUTO_SCALING="+m.URL)
		scheds = append(scheds, startScheduler(t, n, "schedule", "--protect", "--group-tag", elect.TagASGName,
			"--log-format", "json", "--grace", schedGrace.String(), "--imds-poll", "0s", cron))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range scheds {
				t.Logf("stderr of the scheduler on %s:\n%s", s.id, s.stderr.String())
			}
		}
	})
	if !waitFor(15*time.Second, func() bool { _, err := os.Stat(started); return err == nil }) {
		t.Fatal("the leader-only job did not start within 15s")
	}
	if !waitFor(10*time.Second, func() bool { return protected()[leader] }) {
		t.Fatalf("the leader %s is not protected while its job runs: %v", leader, protected())
	}
	for id, on := range protected() {
		if id != leader && on {
			t.Errorf("the follower %s is protected", id)
		}
	}
	os.WriteFile(release, nil, 0o600)
	// Jobs keep starting every second and end at once now; stop them all
	// and the protection must be gone.
	for _, s := range scheds {
		s.stopWithin(t, schedGrace+stopMargin)
	}
	for id, on := range protected() {
		if on {
			t.Errorf("%s still protected after a clean shutdown", id)
		}
	}
	for _, s := range scheds {
		t.Logf("%s: %d SetInstanceProtection calls (leader: %t)", s.id, s.countSince(time.Time{}, "scale-in protection changed"), s.id == leader)
		if s.id != leader && s.logged("scale-in protection changed") {
			t.Errorf("the follower %s changed its protection", s.id)
		}
	}
}

// oldestRunningIn is the election's answer for every running instance moto has.
func oldestRunningIn(t *testing.T, c *ec2.Client) string {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var all []elect.Instance
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			all = append(all, elect.Instance{ID: aws.ToString(i.InstanceId), LaunchTime: aws.ToTime(i.LaunchTime), State: string(i.State.Name)})
		}
	}
	return elect.Choose("", all).LeaderID
}
