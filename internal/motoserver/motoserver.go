// Package motoserver starts moto_server (Python moto, a third-party AWS
// emulator) for tests, and says whether a test may skip when it is missing.
// Only _test.go files import it: the release binary never links it, and the
// switch LEADERGATE_REQUIRE_MOTO is read by tests only.
package motoserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// ErrNoMoto means moto_server is not installed.
var ErrNoMoto = errors.New("moto_server not found in PATH (pip install 'moto[server]')")

// Moto is a running moto_server (Python moto, a third-party EC2 emulator),
// listening on a free port of 127.0.0.1. The in-process EC2 emulator can be
// wrong the same way as our code; moto is an independent check. It pages
// DescribeInstances by reservation, checks no signature or IAM policy and
// has no eventual consistency or throttling.
type Moto struct {
	URL string
	// EC2 talks to moto directly, with test credentials, for a test's own
	// set-up and checks.
	EC2    *ec2.Client
	cmd    *exec.Cmd
	exited chan struct{}
}

// ForTest starts moto_server for one test and stops it after, or skips the
// test when moto_server is not installed (unless LEADERGATE_REQUIRE_MOTO=1,
// see Skip).
func ForTest(tb testing.TB) *Moto {
	tb.Helper()
	m, err := Start(context.Background())
	if Skip(err) {
		tb.Skipf("skipping the moto_server test: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

// Start starts moto_server and waits until it answers.
//
// moto is handed a socket this process has already bound, as werkzeug's own
// reloader hands one to its child (WERKZEUG_RUN_MAIN, WERKZEUG_SERVER_FD).
// Picking a free port and letting moto bind it later raced with every other
// test listening on port 0 in parallel: a Go server took the port in the
// gap, moto exited, and the tests talked to the wrong server (405 Method Not
// Allowed from DynamoDB).
func Start(ctx context.Context) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	sock, err := l.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	defer sock.Close()
	port := l.Addr().(*net.TCPAddr).Port
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.ExtraFiles = []*os.File{sock} // fd 3
	cmd.Env = append(os.Environ(), "WERKZEUG_RUN_MAIN=true", "WERKZEUG_SERVER_FD=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	exited := make(chan struct{})
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: exited}
	go func() { _ = cmd.Wait(); close(exited) }()
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("moto_server exited before answering on %s", m.URL)
		default:
		}
		resp, err := hc.Get(m.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Server"), "Werkzeug") {
				m.Close()
				return nil, fmt.Errorf("%s answered %s (server %q), not as moto_server", m.URL, resp.Status, resp.Header.Get("Server"))
			}
			if m.EC2, err = m.client(ctx); err != nil {
				m.Close()
				return nil, err
			}
			return m, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.Close()
			return nil, fmt.Errorf("moto_server did not answer on %s: %w", m.URL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Reset forgets every resource, between tests sharing one server.
func (m *Moto) Reset() error {
	resp, err := http.Post(m.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Close stops moto_server and its children.
func (m *Moto) Close() {
	if m.cmd.Process != nil {
		syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.exited
	}
}

// Skip reports whether err from Start means "skip this test":
// moto_server is not installed and LEADERGATE_REQUIRE_MOTO is not 1 (CI sets
// it, so that a missing emulator fails instead of silently passing).
func Skip(err error) bool {
	return errors.Is(err, ErrNoMoto) && os.Getenv("LEADERGATE_REQUIRE_MOTO") != "1"
}

// Config is an SDK config for moto, with test credentials and none of the
// machine's own AWS files: for a test's own clients.
func (m *Moto) Config(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithBaseEndpoint(m.URL),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
}

func (m *Moto) client(ctx context.Context) (*ec2.Client, error) {
	cfg, err := m.Config(ctx)
	if err != nil {
		return nil, err
	}
	return ec2.NewFromConfig(cfg), nil
}

// CreateASG creates the Auto Scaling group name of n instances in moto
// (moto launches them at once, tagged aws:autoscaling:groupName) and
// returns a reader of each instance's scale-in protection; a failure fails
// the test.
func (m *Moto) CreateASG(tb testing.TB, name string, n int) (protected func() map[string]bool) {
	tb.Helper()
	ctx := context.Background()
	cfg, err := m.Config(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	asc := autoscaling.NewFromConfig(cfg)
	if _, err := m.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-12c6146b"), InstanceType: types.InstanceTypeT3Micro},
	}); err != nil {
		tb.Fatalf("create the launch template %s in moto: %v", name, err)
	}
	if _, err := asc.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(name)},
		MinSize:              aws.Int32(int32(n)), MaxSize: aws.Int32(int32(n)), DesiredCapacity: aws.Int32(int32(n)),
		AvailabilityZones: []string{"us-east-1a"},
	}); err != nil {
		tb.Fatalf("create the Auto Scaling group %s in moto: %v", name, err)
	}
	return func() map[string]bool {
		tb.Helper()
		out, err := asc.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{})
		if err != nil {
			tb.Fatal(err)
		}
		p := map[string]bool{}
		for _, i := range out.AutoScalingInstances {
			if aws.ToString(i.AutoScalingGroupName) == name {
				p[aws.ToString(i.InstanceId)] = aws.ToBool(i.ProtectedFromScaleIn)
			}
		}
		return p
	}
}

// Launch runs n instances tagged with tags in one reservation and returns
// their ids in launch order.
func (m *Moto) Launch(ctx context.Context, n int, tags map[string]string) ([]string, error) {
	var ts []types.Tag
	for k, v := range tags {
		ts = append(ts, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := m.EC2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-0c02fb55956c7d316"), MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: ts}},
	})
	if err != nil {
		return nil, fmt.Errorf("run %d instances in moto: %w", n, err)
	}
	ids := make([]string, 0, n)
	for _, i := range out.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	return ids, nil
}
