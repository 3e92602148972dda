package elect_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/exitcode"

	"github.com/leadergate/leadergate/internal/clock"
)

// A scheduler runs for weeks: an IMDS failure at its first election must
// not stick, and the identity is read once, not on every election.
func TestAWSRecoversFromAFailedFirstIdentityAndReadsItOnce(t *testing.T) {
	f := awsfake.NewEC2()
	defer f.Close()
	in := f.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-1"}})
	m := awsfake.NewIMDS(in.ID, f.Region())
	defer m.Close()
	a := &elect.AWS{IMDSEndpoint: m.URL(), LoadOptions: append(slices.Clone(testCreds), config.WithBaseEndpoint(f.URL()))}
	dir := t.TempDir()
	e := &elect.Elector{
		Identity: a, Fleet: a,
		Store:  &elect.Store{Dir: filepath.Join(dir, "state")},
		Config: elect.Config{GroupTags: elect.DefaultGroupTags(), Timeout: 5 * time.Second},
		Clock:  clock.Real{},
		Logger: slog.New(slog.DiscardHandler),
	}

	m.Inject(awsfake.Fault{Kind: awsfake.InternalError})
	if _, err := e.Decide(context.Background(), elect.Request{Force: true}); elect.CannotTell(err) != exitcode.TempFail {
		t.Fatalf("IMDS answering 500: %v, want exit 75", err)
	}
	m.ClearFaults()
	m.ResetCalls()
	for i := range 3 {
		v, err := e.Decide(context.Background(), elect.Request{Force: true})
		if err != nil || !v.Leader {
			t.Fatalf("election %d after IMDS recovered: %+v, %v", i+1, v, err)
		}
	}
	if got := m.Calls(awsfake.IMDSIdentityPath); got != 1 {
		t.Errorf("3 elections read the identity document %d times, want 1", got)
	}
}
