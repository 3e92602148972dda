package elect

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// fakeFleet is a strict in-memory Fleet: it counts calls and fails the test
// on a query that would scan the region.
type fakeFleet struct {
	t         *testing.T
	mu        sync.Mutex
	instances []Instance
	describes int
	tags      int
	err       error // returned by every call when set
}

func (f *fakeFleet) Instances(ctx context.Context, q Query) ([]Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describes++
	if len(q.IDs) == 0 && q.TagKey == "" {
		f.t.Errorf("unfiltered DescribeInstances: %+v", q)
	}
	if f.err != nil {
		return nil, f.err
	}
	var out []Instance
	for _, i := range f.instances {
		if len(q.IDs) > 0 && !strings.Contains(strings.Join(q.IDs, ","), i.ID) {
			continue
		}
		if q.TagKey != "" && i.Tags[q.TagKey] != q.TagValue {
			continue
		}
		if q.RunningOnly && i.State != "running" {
			continue
		}
		c := i
		c.Tags = map[string]string{}
		for k, v := range i.Tags {
			c.Tags[k] = v
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeFleet) Tag(ctx context.Context, id, key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tags++
	if f.err != nil {
		return f.err
	}
	for i := range f.instances {
		if f.instances[i].ID == id {
			f.instances[i].Tags[key] = value
			return nil
		}
	}
	f.t.Errorf("CreateTags on unknown instance %s", id)
	return nil
}

func (f *fakeFleet) counts() (describes, tags int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.describes, f.tags
}

type fixedSelf string

func (s fixedSelf) Self(context.Context) (Self, error) {
	return Self{InstanceID: string(s), Region: "us-east-1"}, nil
}

type failingSelf struct{}

func (failingSelf) Self(context.Context) (Self, error) {
	return Self{}, tempFail(errors.New("read the instance identity from IMDS: connection refused"), "off EC2 use --assume")
}

func newFleet(t *testing.T) *fakeFleet {
	group := map[string]string{TagEnvironmentID: "e-1"}
	mk := func(id string, min int, tags map[string]string) Instance {
		m := map[string]string{}
		for k, v := range tags {
			m[k] = v
		}
		return Instance{ID: id, LaunchTime: t0.Add(time.Duration(min) * time.Minute), State: "running", Tags: m}
	}
	return &fakeFleet{t: t, instances: []Instance{
		mk("i-old", 0, group),
		mk("i-mid", 1, group),
		mk("i-new", 2, group),
		mk("i-other", -10, map[string]string{TagEnvironmentID: "e-2"}),
	}}
}

func newElector(t *testing.T, self Identity, fleet Fleet, dir string, clk *clocktest.Manual) *Elector {
	return &Elector{
		Identity: self,
		Fleet:    fleet,
		Store:    &Store{Dir: dir},
		Config: Config{
			GroupTags: DefaultGroupTags(),
			Marker:    Marker{Path: filepath.Join(dir, "marker")},
			MaxAge:    20 * time.Second,
			Timeout:   5 * time.Second,
		},
		Clock:  clock.Func(clk.Now),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestElectorElectsPublishesAndCaches(t *testing.T) {
	fleet := newFleet(t)
	dir := t.TempDir()
	clk := clocktest.New(t0.Add(time.Hour))
	e := newElector(t, fixedSelf("i-old"), fleet, dir, clk)

	v, err := e.Decide(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Leader || v.LeaderID != "i-old" || v.Candidates != 3 || v.Group != "e-1" {
		t.Fatalf("verdict = %+v, want i-old leading 3 candidates of e-1", v)
	}
	if d, tags := fleet.counts(); d != 2 || tags != 1 {
		t.Errorf("first election: %d DescribeInstances, %d CreateTags; want 2 (group, candidates) and 1", d, tags)
	}
	if _, err := os.Stat(e.Config.Marker.Path); err != nil {
		t.Errorf("leader has no marker: %v", err)
	}
	if fleet.instances[0].Tags[LeaderTag] != "true" {
		t.Errorf("leader tag = %q, want true", fleet.instances[0].Tags[LeaderTag])
	}

	// Within MaxAge: the cached verdict, no call at all.
	clk.Add(10 * time.Second)
	if v2, err := e.Decide(context.Background(), Request{}); err != nil || !v2.Leader {
		t.Fatalf("cached decide = %+v, %v", v2, err)
	}
	if d, tags := fleet.counts(); d != 2 || tags != 1 {
		t.Errorf("cached verdict made calls: %d DescribeInstances, %d CreateTags", d, tags)
	}

	// Past MaxAge: one DescribeInstances (group cached), no CreateTags (tag unchanged).
	clk.Add(20 * time.Second)
	if _, err := e.Decide(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	if d, tags := fleet.counts(); d != 3 || tags != 1 {
		t.Errorf("steady-state election: %d DescribeInstances, %d CreateTags in all; want 3 and 1", d, tags)
	}
}

func TestElectorFollowerRemovesMarkerAndTagsFalse(t *testing.T) {
	fleet := newFleet(t)
	dir := t.TempDir()
	clk := clocktest.New(t0.Add(time.Hour))
	e := newElector(t, fixedSelf("i-new"), fleet, dir, clk)
	os.WriteFile(e.Config.Marker.Path, []byte("stale\n"), 0o644)

	v, err := e.Decide(context.Background(), Request{})
	if err != nil || v.Leader || v.LeaderID != "i-old" {
		t.Fatalf("verdict = %+v, %v; want follower of i-old", v, err)
	}
	if _, err := os.Stat(e.Config.Marker.Path); !os.IsNotExist(err) {
		t.Errorf("follower kept the marker: %v", err)
	}
	if got := fleet.instances[2].Tags[LeaderTag]; got != "false" {
		t.Errorf("follower tag = %q, want false", got)
	}
	for _, i := range fleet.instances {
		if i.ID != "i-new" && i.Tags[LeaderTag] != "" {
			t.Errorf("follower tagged another instance %s", i.ID)
		}
	}
}

func TestElectorLeaderMovesWhenTheLeaderStops(t *testing.T) {
	fleet := newFleet(t)
	clk := clocktest.New(t0.Add(time.Hour))
	mid := newElector(t, fixedSelf("i-mid"), fleet, t.TempDir(), clk)
	mid.Config.MaxAge = 0
	if v, _ := mid.Decide(context.Background(), Request{}); v.Leader {
		t.Fatal("i-mid leads while i-old runs")
	}
	fleet.instances[0].State = "terminated"
	clk.Add(time.Second)
	if v, err := mid.Decide(context.Background(), Request{}); err != nil || !v.Leader {
		t.Fatalf("after the leader terminated, i-mid: %+v, %v; want leader", v, err)
	}
}

func TestElectorConcurrentDecisionsShareOneElection(t *testing.T) {
	fleet := newFleet(t)
	dir := t.TempDir()
	clk := clocktest.New(t0.Add(time.Hour))
	// Warm the group cache so that every election is one DescribeInstances.
	if _, err := newElector(t, fixedSelf("i-mid"), fleet, dir, clk).Decide(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	before, _ := fleet.counts()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A new Elector each, as separate processes would have.
			if _, err := newElector(t, fixedSelf("i-mid"), fleet, dir, clk).Decide(context.Background(), Request{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if after, _ := fleet.counts(); after-before != 1 {
		t.Errorf("20 concurrent decisions made %d DescribeInstances, want 1", after-before)
	}
}

func TestElectorTickSharesOneElectionEvenWithZeroMaxAge(t *testing.T) {
	fleet := newFleet(t)
	dir := t.TempDir()
	clk := clocktest.New(t0.Add(time.Hour))
	e := newElector(t, fixedSelf("i-mid"), fleet, dir, clk)
	e.Config.MaxAge = 0
	tick := clk.Now()
	e.Decide(context.Background(), Request{Tick: tick})
	before, _ := fleet.counts()
	clk.Add(50 * time.Millisecond)
	e.Decide(context.Background(), Request{Tick: tick})
	if after, _ := fleet.counts(); after != before {
		t.Errorf("second job of the same tick made %d more DescribeInstances, want 0", after-before)
	}
	clk.Add(time.Second)
	e.Decide(context.Background(), Request{Tick: clk.Now()})
	if after, _ := fleet.counts(); after != before+1 {
		t.Errorf("the next tick made %d DescribeInstances, want 1", after-before)
	}
}

func TestElectorFailsClosed(t *testing.T) {
	fleet := newFleet(t)
	dir := t.TempDir()
	clk := clocktest.New(t0.Add(time.Hour))
	e := newElector(t, fixedSelf("i-old"), fleet, dir, clk)
	if _, err := e.Decide(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	fleet.err = tempFail(errors.New("EC2 API throttled (RequestLimitExceeded)"), "retry later")
	clk.Add(time.Minute)

	_, err := e.Decide(context.Background(), Request{})
	if CannotTell(err) != exitcode.TempFail || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("throttled election: err %v (exit %d), want exit 75 naming the throttling", err, CannotTell(err))
	}
	if _, serr := os.Stat(e.Config.Marker.Path); !os.IsNotExist(serr) {
		t.Error("marker kept after a failed election")
	}

	// --stale-ok covering the last verdict: use it, say it is stale, keep the marker.
	e.Config.StaleOK = 5 * time.Minute
	v, err := e.Decide(context.Background(), Request{})
	if err != nil || !v.Stale || !v.Leader || !strings.Contains(v.StaleCause, "throttled") {
		t.Fatalf("stale-ok decide = %+v, %v; want the stale leader verdict", v, err)
	}
	// Too old for --stale-ok: fail again.
	clk.Add(10 * time.Minute)
	if _, err := e.Decide(context.Background(), Request{}); CannotTell(err) != exitcode.TempFail {
		t.Fatalf("verdict older than --stale-ok used: %v", err)
	}
}

func TestElectorWaitersShareAFailure(t *testing.T) {
	fleet := newFleet(t)
	fleet.err = tempFail(errors.New("EC2 error InternalError"), "")
	dir := t.TempDir()
	clk := clocktest.New(t0.Add(time.Hour))
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := newElector(t, fixedSelf("i-old"), fleet, dir, clk).Decide(context.Background(), Request{})
			if CannotTell(err) != exitcode.TempFail {
				t.Errorf("err = %v, want exit 75", err)
			}
		}()
	}
	wg.Wait()
	if d, _ := fleet.counts(); d > 2 {
		t.Errorf("10 concurrent failing decisions made %d DescribeInstances; waiters should share the failure", d)
	}
}

func TestElectorNoIMDS(t *testing.T) {
	e := newElector(t, failingSelf{}, newFleet(t), t.TempDir(), clocktest.New(t0))
	_, err := e.Decide(context.Background(), Request{})
	if CannotTell(err) != exitcode.TempFail || !strings.Contains(err.Error(), "--assume") {
		t.Fatalf("err = %v, want exit 75 with a hint about --assume", err)
	}
}

func TestElectorNoGroupTagIsAConfigError(t *testing.T) {
	fleet := newFleet(t)
	fleet.instances = append(fleet.instances, Instance{ID: "i-lone", LaunchTime: t0, State: "running", Tags: map[string]string{}})
	e := newElector(t, fixedSelf("i-lone"), fleet, t.TempDir(), clocktest.New(t0))
	_, err := e.Decide(context.Background(), Request{})
	if CannotTell(err) != exitcode.Config || !strings.Contains(err.Error(), "--group-tag") {
		t.Fatalf("err = %v, want exit 78 naming --group-tag", err)
	}
}

func TestElectorFallsBackToTheAutoScalingGroupTag(t *testing.T) {
	fleet := newFleet(t)
	for _, id := range []string{"i-b", "i-a"} {
		fleet.instances = append(fleet.instances, Instance{ID: id, LaunchTime: t0, State: "running", Tags: map[string]string{TagASGName: "asg-1"}})
	}
	v, err := newElector(t, fixedSelf("i-b"), fleet, t.TempDir(), clocktest.New(t0)).Decide(context.Background(), Request{})
	if err != nil || v.GroupKey != TagASGName || v.LeaderID != "i-a" || v.Candidates != 2 {
		t.Fatalf("verdict = %+v, %v; want i-a leading the 2 instances of asg-1", v, err)
	}
}

func TestStoreIgnoresCorruptAndUntrustedState(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir}
	if err := s.Save(Verdict{Self: "i-a", Leader: true, At: t0}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Load(); !ok {
		t.Fatal("saved verdict not loaded")
	}
	b, _ := os.ReadFile(filepath.Join(dir, verdictFile))
	for n := range len(b) - 1 {
		os.WriteFile(filepath.Join(dir, verdictFile), b[:n], 0o600)
		if v, ok := s.Load(); ok {
			t.Fatalf("truncated verdict (%d of %d bytes) trusted: %+v", n, len(b), v)
		}
	}
	os.WriteFile(filepath.Join(dir, verdictFile), b, 0o600)
	os.Chmod(dir, 0o777)
	if _, ok := s.Load(); ok {
		t.Error("verdict trusted in a world-writable state dir")
	}
	if err := s.Ensure(); CannotTell(err) != exitcode.Config || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("Ensure on a world-writable dir: %v, want exit 78 with the chmod fix", err)
	}
}

func TestMarkerIsNotRedirectedThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	os.WriteFile(target, []byte("keep\n"), 0o644)
	m := Marker{Path: filepath.Join(dir, "marker")}
	os.Symlink(target, m.Path)
	if err := m.Set(true, "i-a\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Errorf("marker write went through the symlink: target now %q", b)
	}
	if fi, err := os.Lstat(m.Path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("marker is not a regular file: %v %v", fi, err)
	}
	if err := m.Set(false, ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(false, ""); err != nil {
		t.Errorf("removing an absent marker: %v", err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Error("removing the marker removed the symlink's target")
	}
}

func TestOptionalMarkerWithoutItsDirectory(t *testing.T) {
	m := Marker{Path: filepath.Join(t.TempDir(), "missing", "marker"), Optional: true}
	if err := m.Set(true, "x"); err != nil {
		t.Errorf("optional marker in a missing dir: %v", err)
	}
	m.Optional = false
	if err := m.Set(true, "x"); CannotTell(err) != exitcode.Config {
		t.Errorf("explicit marker in a missing dir: %v, want exit 78", err)
	}
}

// TestElectorGroupFlag: --group uses the first --group-tag; an instance
// that is not itself in the group it names is a configuration error (78)
// saying which group it is in, not a silent follower; and a verdict cached
// under another group configuration is not reused.
func TestElectorGroupFlag(t *testing.T) {
	fleet := newFleet(t)
	dir := t.TempDir()
	clk := clocktest.New(t0)
	e := newElector(t, fixedSelf("i-mid"), fleet, dir, clk)
	e.Config.Group = "e-1" // GroupTags keeps both defaults: the first is used
	if err := e.Config.Validate(); err != nil {
		t.Fatalf("--group with the default --group-tag list refused: %v", err)
	}
	v, err := e.Decide(context.Background(), Request{})
	if err != nil || v.GroupKey != TagEnvironmentID || v.Group != "e-1" || v.LeaderID != "i-old" || v.Leader {
		t.Fatalf("verdict %+v, %v; want i-mid following i-old in e-1", v, err)
	}

	// The same state dir, another group: the cached e-1 verdict is not
	// an answer, and this instance is not in e-2.
	e.Config.Group = "e-2"
	_, err = e.Decide(context.Background(), Request{})
	if CannotTell(err) != exitcode.Config || !strings.Contains(err.Error(), "this instance i-mid has "+TagEnvironmentID+"=e-1, not e-2") {
		t.Fatalf("err = %v, want exit 78 saying this instance has %s=e-1, not e-2", err, TagEnvironmentID)
	}
	if !strings.Contains(err.Error(), "--group e-1") {
		t.Errorf("err = %v, want the fix --group e-1", err)
	}
}

// TestRootInTheServiceUsersStateDir: root (sudo leadergate status) in a
// state dir another user owns is told to run as that user or use its own
// directory, never to chown it (which would break the service).
func TestRootInTheServiceUsersStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Skipf("cannot chown: %v", err)
	}
	err := (&Store{Dir: dir}).Check()
	if CannotTell(err) != exitcode.Config || !strings.Contains(err.Error(), "owned by uid 65534") || !strings.Contains(err.Error(), "not root") ||
		!strings.Contains(err.Error(), "sudo -u") || !strings.Contains(err.Error(), "do not chown it") {
		t.Fatalf("err = %v; want exit 78 saying whose it is, sudo -u, and not to chown it", err)
	}
}

// TestRootReadsTheServiceUsersStateDir: a ReadOnly store (status) lets root
// read a state dir another user owns, and never writes or locks it.
func TestRootReadsTheServiceUsersStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := (&Store{Dir: dir}).Ensure(); err != nil {
		t.Fatal(err)
	}
	v := Verdict{Self: "i-1", LeaderID: "i-1", Leader: true, At: time.Now().UTC()}
	if err := (&Store{Dir: dir}).Save(v); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, verdictFile)} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Skipf("cannot chown: %v", err)
		}
	}
	ro := &Store{Dir: dir, ReadOnly: true}
	if err := ro.Ensure(); err != nil {
		t.Fatalf("read-only Ensure: %v", err)
	}
	if got, ok := ro.Load(); !ok || got.Self != "i-1" || !got.Leader {
		t.Errorf("read-only Load = %+v, %t; want the stored verdict", got, ok)
	}
	if _, err := ro.Lock(context.Background()); CannotTell(err) != exitcode.Config {
		t.Errorf("read-only Lock err = %v, want exit 78", err)
	}
	if err := ro.Save(v); CannotTell(err) != exitcode.Config {
		t.Errorf("read-only Save err = %v, want exit 78", err)
	}
	if _, ok := (&Store{Dir: dir}).Load(); ok {
		t.Error("a writing store read the other user's verdict")
	}
	if _, err := os.Stat(filepath.Join(dir, lockFile)); err == nil {
		t.Error("a lock file was created")
	}
}
