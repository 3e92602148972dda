// Package sim runs simulated fleets of EC2 instances through the real
// election code, with real HTTP and the real AWS SDK clients, against the
// in-process EC2 and IMDS emulators of package awsfake. It is what
// `leadergate simulate` shows, and what the chaos tests check.
package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/awsfake"
)

// Event is what happens to the fleet before a round's elections.
type Event string

// Events. Fault events last for their round only.
const (
	Steady      Event = "steady"
	KillLeader  Event = "kill leader"       // terminate the current leader
	StopStart   Event = "stop/start leader" // LaunchTime resets: it becomes the youngest
	Launch      Event = "launch 2"
	ReplaceAll  Event = "replace all"   // immutable deploy: launch a new set, terminate the old one
	Throttle    Event = "throttle"      // every EC2 call: RequestLimitExceeded
	ServerError Event = "ec2 500"       // every EC2 call: InternalError
	Hang        Event = "ec2 hang"      // every EC2 call: no answer
	IMDSDown    Event = "imds 500"      // every instance's IMDS: 500
	Denied      Event = "access denied" // DescribeInstances: UnauthorizedOperation
)

// Fault reports whether no election can succeed in a round with e.
func (e Event) Fault() bool {
	switch e {
	case Throttle, ServerError, Hang, IMDSDown, Denied:
		return true
	}
	return false
}

// DefaultScript is the story `leadergate simulate` tells (a new slice on each
// call: no package-level state to mutate).
func DefaultScript() []Event {
	return []Event{Steady, Steady, KillLeader, Launch, Throttle, Steady, StopStart, ServerError, Steady}
}

// ChaosScript returns n rounds mixing every event, seeded, starting steady.
func ChaosScript(n int, seed uint64) []Event {
	all := []Event{Steady, Steady, Steady, KillLeader, StopStart, Launch, ReplaceAll, Throttle, ServerError, Hang, IMDSDown, Denied}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := []Event{Steady}
	for len(out) < n {
		out = append(out, all[r.IntN(len(all))])
	}
	return out
}

// Config is a simulation.
type Config struct {
	Instances int           // in the simulated group (default 5)
	Others    int           // in another group of the same region, older: never counted or tagged (default 2)
	Script    []Event       // one round per event (default DefaultScript)
	Timeout   time.Duration // per election (default 2s: hang and throttle rounds last this long)
	Seed      uint64
	// Lag makes a terminated instance look running for this long after its
	// termination, as DescribeInstances' eventual consistency can. Rounds
	// are then Lag apart on the emulator's clock (no real wait): the round
	// of a change sees the stale view, as the fleet would at that moment,
	// and the next one what the fleet would do once the lag has passed.
	Lag time.Duration
}

// Round is what one round showed.
type Round struct {
	N          int
	Event      Event
	Running    int    // running instances of the group, ground truth
	Want       string // the oldest running instance, ground truth ("" in a fault round)
	Leaders    []string
	Tagged     int // running instances of the group tagged leader=true after the round
	Failed     int // elections that could not decide (exit 75/78)
	Describes  int
	CreateTags int
	Elapsed    time.Duration // slowest election of the round
	Problem    string
}

// Result is a whole simulation.
type Result struct {
	Rounds   []Round
	Problems int
}

type node struct {
	id   string
	imds *awsfake.IMDS
	el   *elect.Elector
}

// Run plays cfg's script, printing a table row per round to w.
func Run(ctx context.Context, cfg Config, w io.Writer) (Result, error) {
	if cfg.Instances <= 0 {
		cfg.Instances = 5
	}
	if cfg.Others < 0 {
		cfg.Others = 0
	}
	if cfg.Script == nil {
		cfg.Script = DefaultScript()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	dir, err := os.MkdirTemp("", "leadergate-sim-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)

	const group, other = "e-simulated", "e-other"
	// The emulator's clock runs ahead of the real one by the lags waited
	// out so far.
	var ahead atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	ec2 := awsfake.NewEC2(awsfake.WithSeed(cfg.Seed+1), awsfake.WithCredentials("AKIDSIMULATED", "simulated-secret"), awsfake.WithClock(clock))
	defer ec2.Close()
	ec2.SetConsistencyLag(cfg.Lag)
	start := clock().Add(-24 * time.Hour).Truncate(time.Second)
	for i := 0; i < cfg.Others; i++ {
		// Older than every instance of the group: counting them would be seen.
		ec2.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: other}, LaunchTime: start.Add(-time.Hour)})
	}

	s := &fleet{cfg: cfg, ec2: ec2, dir: dir, group: group, nodes: map[string]*node{}}
	defer s.close()
	for i := 0; i < cfg.Instances; i++ {
		s.launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: group}, LaunchTime: start.Add(time.Duration(i) * time.Minute)})
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUND\tEVENT\tRUNNING\tLEADER\tTAGGED leader=true\tWOULD RUN\tEXIT 75/78\tDescribeInstances\tCreateTags\tSLOWEST\tOK")
	var res Result
	for n, ev := range cfg.Script {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if n > 0 {
			// Wait the lag out before the next round, so the previous
			// round's changes are visible to it.
			ahead.Add(int64(cfg.Lag))
		}
		r := s.round(ctx, n+1, ev)
		res.Rounds = append(res.Rounds, r)
		ok := "yes"
		if r.Problem != "" {
			ok = "NO: " + r.Problem
			res.Problems++
		}
		leader := "-"
		if len(r.Leaders) > 0 {
			leader = strings.Join(r.Leaders, ",")
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.N, r.Event, r.Running, leader, r.Tagged, len(r.Leaders), r.Failed, r.Describes, r.CreateTags, r.Elapsed.Round(time.Millisecond), ok)
	}
	if err := tw.Flush(); err != nil {
		return res, err
	}
	for _, in := range ec2.Instances() {
		if in.Tags[elect.TagEnvironmentID] == other && in.Tags[elect.LeaderTag] != "" {
			res.Problems++
			fmt.Fprintf(w, "instance %s of the other group was tagged leader=%s\n", in.ID, in.Tags[elect.LeaderTag])
		}
	}
	return res, nil
}

type fleet struct {
	cfg   Config
	ec2   *awsfake.EC2
	dir   string
	group string
	nodes map[string]*node // running instances of the group, each with its leadergate
	quiet *slog.Logger
}

func (s *fleet) close() {
	for _, n := range s.nodes {
		n.imds.Close()
	}
}

func (s *fleet) launch(spec awsfake.LaunchSpec) {
	in := s.ec2.Launch(spec)
	m := awsfake.NewIMDS(in.ID, s.ec2.Region(), awsfake.WithInstance(in))
	s.nodes[in.ID] = &node{id: in.ID, imds: m, el: &elect.Elector{
		Store: &elect.Store{Dir: filepath.Join(s.dir, in.ID)},
		Config: elect.Config{
			GroupTags: elect.DefaultGroupTags(),
			Marker:    elect.Marker{Path: filepath.Join(s.dir, in.ID, "leader-manager-is-leader")},
			Timeout:   s.cfg.Timeout,
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
}

// connect gives nd a new AWS adapter, as a new leadergate process has: cron
// starts one per line, so nothing but the state dir carries over.
func (s *fleet) connect(nd *node) {
	aws := &elect.AWS{
		IMDSEndpoint: nd.imds.URL(),
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithBaseEndpoint(s.ec2.URL()),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated-secret", "")),
			config.WithSharedConfigFiles([]string{}),
			config.WithSharedCredentialsFiles([]string{}),
		},
	}
	nd.el.Identity, nd.el.Fleet = aws, aws
}

func (s *fleet) terminate(id string) {
	s.ec2.Terminate(id)
	s.nodes[id].imds.Close()
	delete(s.nodes, id)
}

// truth is the oldest running instance of the group, from the emulator's
// own state rather than through the API.
func (s *fleet) truth() (leader string, running int) {
	var group []elect.Instance
	for _, in := range s.ec2.Instances() {
		if in.State == "running" && in.Tags[elect.TagEnvironmentID] == s.group {
			group = append(group, elect.Instance{ID: in.ID, LaunchTime: in.LaunchTime, State: in.State})
		}
	}
	return elect.Choose("", group).LeaderID, len(group)
}

func (s *fleet) round(ctx context.Context, n int, ev Event) Round {
	leader, _ := s.truth()
	switch ev {
	case KillLeader:
		if leader != "" {
			s.terminate(leader)
		}
	case StopStart:
		s.ec2.Stop(leader)
		s.ec2.Start(leader) // a new LaunchTime: now the youngest
	case Launch:
		for range 2 {
			s.launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: s.group}})
		}
	case ReplaceAll:
		old := slices.Collect(maps.Keys(s.nodes))
		for range len(old) {
			s.launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: s.group}})
		}
		for _, id := range old {
			s.terminate(id)
		}
	case Throttle:
		s.ec2.Inject(awsfake.Fault{Kind: awsfake.Throttle})
	case ServerError:
		s.ec2.Inject(awsfake.Fault{Kind: awsfake.InternalError})
	case Hang:
		s.ec2.Inject(awsfake.Fault{Kind: awsfake.Hang})
	case Denied:
		s.ec2.Inject(awsfake.Fault{Kind: awsfake.Unauthorized, Action: "DescribeInstances"})
	case IMDSDown:
		for _, nd := range s.nodes {
			nd.imds.Inject(awsfake.Fault{Kind: awsfake.InternalError})
		}
	}
	defer func() {
		s.ec2.ClearFaults()
		for _, nd := range s.nodes {
			nd.imds.ClearFaults()
		}
	}()

	// Under a lag only the round of a change may see a stale fleet: every
	// round after it starts once the lag has passed.
	stale := s.cfg.Lag > 0 && (ev == KillLeader || ev == StopStart || ev == ReplaceAll)
	r := Round{N: n, Event: ev}
	r.Want, r.Running = s.truth()
	describes, tags := s.ec2.Calls("DescribeInstances"), s.ec2.Calls("CreateTags")

	// Every instance elects at the same moment, as cron fires them.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, nd := range s.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			s.connect(nd)
			v, err := nd.el.Decide(ctx, elect.Request{Force: true})
			took := time.Since(t)
			mu.Lock()
			defer mu.Unlock()
			r.Elapsed = max(r.Elapsed, took)
			switch {
			case err != nil:
				r.Failed++
			case v.Leader:
				r.Leaders = append(r.Leaders, nd.id)
			}
		}()
	}
	wg.Wait()
	slices.Sort(r.Leaders)
	r.Describes = s.ec2.Calls("DescribeInstances") - describes
	r.CreateTags = s.ec2.Calls("CreateTags") - tags
	for _, in := range s.ec2.Instances() {
		if in.State == "running" && in.Tags[elect.TagEnvironmentID] == s.group && in.Tags[elect.LeaderTag] == "true" {
			r.Tagged++
		}
	}

	switch {
	case ev.Fault() && (len(r.Leaders) != 0 || r.Failed != len(s.nodes)):
		r.Problem = fmt.Sprintf("fault round: %d would run, %d of %d failed closed", len(r.Leaders), r.Failed, len(s.nodes))
	case ev.Fault():
		r.Want = ""
	case r.Want == "":
		// Nobody of the group runs (the only instance was killed): the
		// right answer is that nobody would run the job.
		if len(r.Leaders) != 0 {
			r.Problem = fmt.Sprintf("no instance of the group is running, yet %v would run the job", r.Leaders)
		}
	case !stale && (len(r.Leaders) != 1 || r.Leaders[0] != r.Want):
		r.Problem = fmt.Sprintf("want exactly %s to run, got %v", r.Want, r.Leaders)
	case len(r.Leaders) > 1:
		r.Problem = fmt.Sprintf("%d instances would run the job", len(r.Leaders))
	case !ev.Fault() && r.Tagged != 1 && !stale:
		r.Problem = fmt.Sprintf("%d instances tagged leader=true", r.Tagged)
	}
	return r
}
