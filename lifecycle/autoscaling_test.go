package lifecycle_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/motoserver"
	"github.com/leadergate/leadergate/lifecycle"
)

var creds = []func(*config.LoadOptions) error{
	config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")),
	config.WithSharedConfigFiles([]string{}),
	config.WithSharedCredentialsFiles([]string{}),
}

// Against moto_server's Auto Scaling: the group is created by the test; the
// adapter finds it from the instance's own aws:autoscaling:groupName tag and
// protects and unprotects that instance only.
func TestASGProtectsOnlySelfAgainstMoto(t *testing.T) {
	ctx := context.Background()
	m := motoserver.ForTest(t)
	protection := m.CreateASG(t, "web-asg", 3)
	before := protection()
	if len(before) != 3 {
		t.Fatalf("moto's group has %d instances, want 3: %v", len(before), before)
	}
	var self string
	for id := range before {
		self = id
		break
	}
	imds := awsfake.NewIMDS(self, "us-east-1")
	t.Cleanup(imds.Close)
	a := &elect.AWS{IMDSEndpoint: imds.URL(), LoadOptions: append(slices.Clone(creds), config.WithBaseEndpoint(m.URL)), Logger: slog.New(slog.DiscardHandler)}
	p := &lifecycle.ASG{Config: a.Config, Identity: a, Fleet: a}

	if err := p.SetProtected(ctx, true); err != nil {
		t.Fatal(err)
	}
	for id, on := range protection() {
		if on != (id == self) {
			t.Errorf("after SetProtected(true) on %s: %s protected=%t", self, id, on)
		}
	}
	if err := p.SetProtected(ctx, false); err != nil {
		t.Fatal(err)
	}
	for id, on := range protection() {
		if on {
			t.Errorf("after SetProtected(false): %s still protected", id)
		}
	}
}

// An instance outside any Auto Scaling group says so instead of calling.
func TestASGOutsideAGroupSaysSo(t *testing.T) {
	f := awsfake.NewEC2()
	defer f.Close()
	in := f.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-1"}})
	imds := awsfake.NewIMDS(in.ID, f.Region())
	defer imds.Close()
	a := &elect.AWS{IMDSEndpoint: imds.URL(), LoadOptions: append(slices.Clone(creds), config.WithBaseEndpoint(f.URL()))}
	err := (&lifecycle.ASG{Config: a.Config, Identity: a, Fleet: a}).SetProtected(context.Background(), true)
	if err == nil || !contains(err.Error(), "not in an Auto Scaling group") {
		t.Errorf("SetProtected outside a group: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
