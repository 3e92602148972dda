package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
	"github.com/leadergate/leadergate/internal/motoserver"
)

// node is one simulated instance running the leadergate binary: its own
// IMDS, state dir and marker, and the shared EC2 endpoint.
type node struct {
	id  string
	env []string
}

func newNode(t testing.TB, id, ec2URL string) *node {
	m := awsfake.NewIMDS(id, "us-east-1")
	t.Cleanup(m.Close)
	dir := t.TempDir()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "LEADERGATE_")
	})
	return &node{id: id, env: append(env,
		"AWS_ENDPOINT_URL_EC2="+ec2URL,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+m.URL(),
		"AWS_ACCESS_KEY_ID=AKIDTEST",
		"AWS_SECRET_ACCESS_KEY=test-secret",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
		"LEADERGATE_STATE_DIR="+filepath.Join(dir, "state"),
		"LEADERGATE_MARKER="+filepath.Join(dir, "leader-manager-is-leader"),
		"ID="+id,
	)}
}

// leadergate runs the binary as this node and returns its exit code and stderr.
func (n *node) leadergate(args ...string) (int, string) {
	cmd := exec.Command("leadergate", args...)
	cmd.Env = n.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	case err != nil:
		return -1, err.Error()
	}
	return 0, stderr.String()
}

// everyone runs args on every node at the same moment, as cron fires them,
// and returns the exit codes by node id.
func everyone(nodes []*node, args ...string) map[string]int {
	codes := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := n.leadergate(args...)
			mu.Lock()
			codes[n.id] = code
			mu.Unlock()
		}()
	}
	wg.Wait()
	return codes
}

func TestConcurrentChecksShareOneElection(t *testing.T) {
	fake := awsfake.NewEC2()
	defer fake.Close()
	in := fake.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-1"}})
	n := newNode(t, in.ID, fake.URL())
	// 20 processes of one instance at once: one election between them.
	procs := make([]*node, 20)
	for i := range procs {
		procs[i] = n
	}
	fake.ResetCalls()
	var codes []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := p.leadergate("check")
			mu.Lock()
			codes = append(codes, code)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != 0 {
			t.Fatalf("exit codes %v, want all 0", codes)
		}
	}
	// The first election also reads the instance's own group: 2 calls.
	if got := fake.FirstCalls("DescribeInstances"); got != 2 {
		t.Errorf("20 simultaneous checks made %d DescribeInstances, want 2 (one election)", got)
	}
}

// motoFleet starts moto_server behind a fault-injecting proxy, or skips the
// test when moto_server is not installed (see motoserver.Skip). launch runs
// n instances of environment env in moto and returns their ids in launch
// order; moto.EC2 talks to moto directly, for the test's own checks.
func motoFleet(t *testing.T) (moto *motoserver.Moto, proxy *faultproxy.Proxy, launch func(n int, env string) []string) {
	t.Helper()
	moto = motoserver.ForTest(t)
	proxy = faultproxy.New(moto.URL)
	t.Cleanup(proxy.Close)
	launch = func(n int, env string) []string {
		t.Helper()
		ids, err := moto.Launch(context.Background(), n, map[string]string{elect.TagEnvironmentID: env})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	return moto, proxy, launch
}

func TestRunOnTenInstancesAgainstMoto(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and schedulers: waits overlap with other fleets
	moto, proxy, launchIn := motoFleet(t)
	launch := func(n int) []string { return launchIn(n, "e-main") }
	var nodes []*node
	for _, id := range launch(10) {
		nodes = append(nodes, newNode(t, id, proxy.URL()))
	}
	log := filepath.Join(t.TempDir(), "ran.log")
	job := []string{"run", "--max-age", "0s", "--timeout", "5s", "--", "sh", "-c", "echo $ID >> " + log}

	// round runs the job everywhere and returns the lines it wrote.
	round := func() ([]string, map[string]int) {
		os.Remove(log)
		codes := everyone(nodes, job...)
		b, _ := os.ReadFile(log)
		return strings.Fields(string(b)), codes
	}
	exactlyOnce := func(name string) string {
		t.Helper()
		lines, codes := round()
		if len(lines) != 1 {
			t.Fatalf("%s: the job ran %d times (%v), want once", name, len(lines), lines)
		}
		for id, c := range codes {
			if c != 0 {
				t.Errorf("%s: %s exited %d", name, id, c)
			}
		}
		return lines[0]
	}

	leader := exactlyOnce("round 1")
	if again := exactlyOnce("round 2"); again != leader {
		t.Fatalf("leadership moved from %s to %s in steady state", leader, again)
	}
	if _, err := moto.EC2.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{leader}}); err != nil {
		t.Fatal(err)
	}
	nodes = slices.DeleteFunc(nodes, func(n *node) bool { return n.id == leader })
	next := exactlyOnce("after the leader terminated")
	if next == leader {
		t.Fatal("the terminated leader ran the job")
	}
	// Launch times have one-second resolution, and a tie goes to the
	// smaller id: a scale-out in the same second as the first launch could
	// rightly take over. Real scale-outs come later.
	time.Sleep(1100 * time.Millisecond)
	for _, id := range launch(2) {
		nodes = append(nodes, newNode(t, id, proxy.URL()))
	}
	if after := exactlyOnce("after 2 instances launched"); after != next {
		t.Errorf("launching younger instances moved leadership from %s to %s", next, after)
	}

	for _, fault := range []awsfake.FaultKind{awsfake.Throttle, awsfake.InternalError} {
		proxy.Inject(awsfake.Fault{Kind: fault})
		lines, codes := round()
		proxy.ClearFaults()
		if len(lines) != 0 {
			t.Errorf("%s round: the job ran %d times, want 0", fault, len(lines))
		}
		for id, c := range codes {
			if c != 75 {
				t.Errorf("%s round: %s exited %d, want 75", fault, id, c)
			}
		}
	}
	exactlyOnce("after the faults")
}
