package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/aemm"
	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
	"github.com/leadergate/leadergate/internal/motoserver"
	"github.com/leadergate/leadergate/internal/proctest"
)

// sampler checks every 100 ms that at most one node's service command is
// alive, reading the pid each command wrote in dir/ID.pid, and records when
// each command was first and last seen alive.
type sampler struct {
	dir   string
	mu    sync.Mutex
	two   []string          // samples with two commands alive
	first map[int]time.Time // pid -> first seen alive
	last  map[int]time.Time // pid -> last seen alive
	owner map[int]string    // pid -> node
	stop  chan struct{}
	done  chan struct{}
}

// watchService starts a sampler over dir, for the service processes of
// procs (read at the test's end, so processes started later count), shows
// their stderr if the test fails, and waits until one holder's command runs.
func watchService(t *testing.T, dir string, procs map[string]*scheduler) *sampler {
	t.Helper()
	s := startSampler(dir)
	t.Cleanup(func() {
		s.close()
		if t.Failed() {
			for id, p := range procs {
				t.Logf("stderr of %s:\n%s", id, p.stderr.String())
			}
		}
	})
	if !waitFor(30*time.Second, func() bool { id, _ := s.holder(); return id != "" }) {
		t.Fatal("no instance started the service")
	}
	return s
}

func startSampler(dir string) *sampler {
	s := &sampler{dir: dir, first: map[int]time.Time{}, last: map[int]time.Time{}, owner: map[int]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.pid"))
	now := time.Now()
	var alive []string
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(l)
			if err != nil || !proctest.Alive(pid) {
				continue
			}
			id := strings.TrimSuffix(filepath.Base(f), ".pid")
			alive = append(alive, fmt.Sprintf("%s/%d", id, pid))
			if _, ok := s.first[pid]; !ok {
				s.first[pid] = now
			}
			s.last[pid], s.owner[pid] = now, id
		}
	}
	if len(alive) > 1 {
		s.two = append(s.two, now.Format("15:04:05.000")+" "+strings.Join(alive, " "))
	}
}

func (s *sampler) close() {
	close(s.stop)
	<-s.done
}

// holder is the node whose command is alive now ("" when none).
func (s *sampler) holder() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, id := range s.owner {
		if proctest.Alive(pid) {
			return id, pid
		}
	}
	return "", 0
}

// startedAfter waits for a command other than pid to be seen alive and
// returns its node, pid and when it was first seen.
func (s *sampler) startedAfter(t *testing.T, pid int, within time.Duration) (string, int, time.Time) {
	t.Helper()
	var id string
	var newPid int
	var at time.Time
	ok := waitFor(within, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for p, f := range s.first {
			if p != pid && proctest.Alive(p) && (at.IsZero() || f.Before(at)) && f.After(s.first[pid]) {
				id, newPid, at = s.owner[p], p, f
			}
		}
		return newPid != 0
	})
	if !ok {
		t.Fatalf("no new service command within %s of pid %d", within, pid)
	}
	return id, newPid, at
}

func (s *sampler) lastSeen(pid int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[pid]
}

func (s *sampler) overlaps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.two...)
}

// TestServiceOnThreeInstancesAgainstMoto runs `leadergate service` on
// three instances, each with its own proxy in front of DynamoDB, and
// samples every 100 ms that never two commands are alive: in steady state,
// after a SIGKILL of the holder's leadergate, after a drain, and with the
// holder cut off from DynamoDB while EC2 works.
func TestServiceOnThreeInstancesAgainstMoto(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and services: waits overlap with other fleets
	moto, ec2p, launchIn := motoFleet(t)
	lease := 3 * time.Second
	var nodes []*node
	proxies := map[string]*faultproxy.Proxy{}
	// moto's conditional writes are atomic only one at a time: every
	// node's proxy goes through one proxy that serializes them, as
	// DynamoDB is atomic per item.
	serial := faultproxy.New(moto.URL)
	t.Cleanup(serial.Close)
	for _, id := range launchIn(3, "e-main") {
		p := faultproxy.New(serial.URL())
		t.Cleanup(p.Close)
		n := newNode(t, id, ec2p.URL())
		n.env = append(n.env, "AWS_ENDPOINT_URL_DYNAMODB="+p.URL(), "LEADERGATE_LEDGER=lg-ledger")
		nodes, proxies[id] = append(nodes, n), p
	}
	if code, stderr := nodes[0].leadergate("ledger", "create"); code != 0 {
		t.Fatalf("ledger create: exit %d: %s", code, stderr)
	}
	dir := t.TempDir()
	procs := map[string]*scheduler{}
	start := func(n *node) {
		procs[n.id] = startScheduler(t, n, "service", "--name", "beat", "--max-age", "0s", "--lease", lease.String(),
			"--takeover-after", "1s", "--grace", "500ms", "--imds-poll", "0s", "--log-format", "json",
			"--", "sh", "-c", `echo $$ >> `+filepath.Join(dir, "$ID.pid")+`; echo "fence $LEADERGATE_FENCE"; exec sleep 1000`)
	}
	for _, n := range nodes {
		start(n)
	}
	s := watchService(t, dir, procs)

	// Steady state, and what it costs.
	for _, p := range proxies {
		p.ResetCalls()
	}
	steady := 6 * time.Second
	time.Sleep(steady) // a window of sampling, not a wait for an event
	holder, pid := s.holder()
	perMin := func(n int) float64 { return float64(n) * float64(time.Minute) / float64(steady) }
	var followerGets []string
	for id, p := range proxies {
		if id != holder {
			followerGets = append(followerGets, fmt.Sprintf("%.0f", perMin(p.Calls("GetItem"))))
		}
	}
	t.Logf("steady state (--lease %s, --poll 1s): holder %s makes %.0f UpdateItem and %.0f GetItem a minute; each other instance %s GetItem a minute",
		lease, holder, perMin(proxies[holder].Calls("UpdateItem")), perMin(proxies[holder].Calls("GetItem")), strings.Join(followerGets, " and "))
	if !strings.Contains(procs[holder].stderr.String(), `"line":"fence 1"`) {
		t.Errorf("the first holder's command did not log 'fence 1' as job output")
	}

	// The holder's leadergate SIGKILLed: its command dies with it, the
	// next starts after the lease.
	killed := time.Now()
	procs[holder].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[holder].done
	next, nextPid, at := s.startedAfter(t, pid, 30*time.Second)
	t.Logf("SIGKILL of %s's leadergate: its command last seen %.0f ms after; %s started %.1f s after the kill (lease %s)",
		holder, s.lastSeen(pid).Sub(killed).Seconds()*1000, next, at.Sub(killed).Seconds(), lease)
	start(nodeByID(nodes, holder)) // back, as systemd would restart it

	// A drain of the holder: hand over at once.
	if code, stderr := nodeByID(nodes, next).leadergate("drain"); code != 0 {
		t.Fatalf("drain: exit %d: %s", code, stderr)
	}
	drained := time.Now()
	third, thirdPid, at := s.startedAfter(t, nextPid, 30*time.Second)
	t.Logf("drain of %s: its command last seen %.0f ms after; %s started %.2f s after the drain",
		next, s.lastSeen(nextPid).Sub(drained).Seconds()*1000, third, at.Sub(drained).Seconds())
	if third == next {
		t.Errorf("the drained instance took the service back")
	}

	// The holder cut off from DynamoDB (EC2 still works): its command
	// stops before anyone else's starts.
	proxies[third].Inject(awsfake.Fault{Kind: awsfake.Hang})
	cut := time.Now()
	fourth, _, at := s.startedAfter(t, thirdPid, 30*time.Second)
	stopped := s.lastSeen(thirdPid)
	t.Logf("%s cut off from DynamoDB: its command last seen %.2f s after the cut; %s started %.2f s after the cut: a gap of %.2f s with none",
		third, stopped.Sub(cut).Seconds(), fourth, at.Sub(cut).Seconds(), at.Sub(stopped).Seconds())
	if !at.After(stopped) {
		t.Errorf("%s started at %s, while %s's command was still alive at %s", fourth, at.Format("15:04:05.000"), third, stopped.Format("15:04:05.000"))
	}
	proxies[third].ClearFaults()

	if o := s.overlaps(); len(o) > 0 {
		t.Errorf("two service commands alive at once in %d samples: %q", len(o), o)
	}
	// SIGTERM everywhere: every command stops, every leadergate exits 0.
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			p.stopWithin(t, 10*time.Second)
		}
	}
	if id, pid := s.holder(); id != "" {
		t.Errorf("%s's command (pid %d) outlived its leadergate's SIGTERM", id, pid)
	}
}

func nodeByID(nodes []*node, id string) *node {
	for _, n := range nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// TestServiceMovesOnASpotNotice: the holder's IMDS (AWS's
// amazon-ec2-metadata-mock) gives a Spot interruption notice; the holder
// stops the command and gives the lease back, and another instance starts
// it, never two at once.
func TestServiceMovesOnASpotNotice(t *testing.T) {
	t.Parallel() // its own emulators, moto_server and services: waits overlap with other fleets
	moto := motoserver.ForTest(t)
	ddb := faultproxy.New(moto.URL) // one at a time, as in the test above
	t.Cleanup(ddb.Close)
	ec := awsfake.NewEC2()
	t.Cleanup(ec.Close)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var nodes []*node
	for i := range 3 {
		in := ec.Launch(awsfake.LaunchSpec{Tags: map[string]string{elect.TagEnvironmentID: "e-main"}, LaunchTime: base.Add(time.Duration(i) * time.Minute)})
		n := newNode(t, in.ID, ec.URL())
		n.env = append(n.env, "AWS_ENDPOINT_URL_DYNAMODB="+ddb.URL(), "LEADERGATE_LEDGER=lg-ledger", "AWS_REGION="+ec.Region())
		nodes = append(nodes, n)
	}
	bin, err := aemmBin()
	if aemm.Skip(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if code, stderr := nodes[0].leadergate("ledger", "create"); code != 0 {
		t.Fatalf("ledger create: exit %d: %s", code, stderr)
	}
	// The oldest instance leads and takes the service first; its IMDS
	// gives the notice 8 s after it starts.
	mock, err := aemm.Start(bin, t.TempDir(), nodes[0].id, ec.Region(), "spot", "-d", "8")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mock.Close)
	nodes[0].env = append(nodes[0].env, "AWS_EC2_METADATA_SERVICE_ENDPOINT="+mock.URL)
	dir := t.TempDir()
	procs := map[string]*scheduler{}
	for _, n := range nodes {
		procs[n.id] = startScheduler(t, n, "service", "--name", "beat", "--max-age", "0s", "--lease", "3s",
			"--takeover-after", "1s", "--grace", "500ms", "--imds-poll", "1s", "--log-format", "json",
			"--", "sh", "-c", `echo $$ >> `+filepath.Join(dir, "$ID.pid")+`; exec sleep 1000`)
	}
	s := watchService(t, dir, procs)
	holder, pid := s.holder()
	if holder != nodes[0].id {
		t.Fatalf("%s holds the service, not the leader %s", holder, nodes[0].id)
	}
	noticeAt := waitNotice(t, mock, "/latest/meta-data/spot/instance-action", 30*time.Second)
	next, _, at := s.startedAfter(t, pid, 30*time.Second)
	t.Logf("spot notice on %s: its command last seen %.2f s after the notice appeared; %s started %.2f s after it (--imds-poll 1s)",
		holder, s.lastSeen(pid).Sub(noticeAt).Seconds(), next, at.Sub(noticeAt).Seconds())
	if next == holder {
		t.Error("the instance with the notice took the service back")
	}
	if !strings.Contains(procs[holder].stderr.String(), `"why":"spot notice:`) {
		t.Error("the holder did not say it handed over on the spot notice")
	}
	if o := s.overlaps(); len(o) > 0 {
		t.Errorf("two service commands alive at once: %q", o)
	}
}
