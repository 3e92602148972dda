package awsfake

import (
	"cmp"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadergate/leadergate/internal/awsfake/internal/fakeserver"
)

// Instance states, as DescribeInstances names them.
const (
	StateRunning    = "running"
	StateStopped    = "stopped"
	StateTerminated = "terminated"
)

// stateCodes are the instanceState codes EC2 returns with each name.
var stateCodes = map[string]int{
	"pending": 0, StateRunning: 16, "shutting-down": 32,
	StateTerminated: 48, "stopping": 64, StateStopped: 80,
}

// terminatedRetention is how long DescribeInstances keeps listing a
// terminated instance, as on AWS.
const terminatedRetention = time.Hour

// Instance is one simulated EC2 instance, as the EC2 emulator holds it now
// (DescribeInstances may still show an older state, see
// [EC2.SetConsistencyLag]).
type Instance struct {
	ID               string
	State            string    // "running", "stopped" or "terminated"
	LaunchTime       time.Time // UTC, whole seconds; reset by Start
	Tags             map[string]string
	InstanceType     string
	ImageID          string
	AvailabilityZone string
	PrivateIP        string
	ReservationID    string
}

// LaunchSpec describes an instance to launch. Zero fields get defaults.
type LaunchSpec struct {
	Tags             map[string]string
	LaunchTime       time.Time // default: the clock's now; truncated to the second
	InstanceType     string    // default t3.micro
	ImageID          string    // default a fixed Amazon Linux 2023 AMI id
	AvailabilityZone string    // default the Region's "a" zone
}

// Call is one request the EC2 emulator received.
type Call struct {
	Action  string
	Params  url.Values // the decoded form, Action and Version included
	Attempt int        // the SDK's attempt number (amz-sdk-request), 0 if absent
	Status  int        // HTTP status answered; 0 while unanswered or if never answered
	Code    string     // error code answered, "" on success
}

// inst is the emulator's record of an instance.
type inst struct {
	Instance
	order uint64 // position in results: stable, unsorted on purpose

	// The view DescribeInstances shows until changedAt+lag.
	prevState      string
	prevLaunch     time.Time
	changedAt      time.Time
	hasPrev        bool
	terminatedAt   time.Time
	privateDNSName string
}

// view is what DescribeInstances shows of an instance at now.
func (in *inst) view(now time.Time, lag time.Duration) (state string, launch time.Time) {
	if in.hasPrev && now.Before(in.changedAt.Add(lag)) {
		return in.prevState, in.prevLaunch
	}
	return in.State, in.LaunchTime
}

// instLess orders instances in results and pages.
func instLess(a, b *inst) int {
	if c := cmp.Compare(a.order, b.order); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// EC2 emulates the EC2 Query API of one Region over HTTP on 127.0.0.1.
// All its methods are safe for concurrent use.
type EC2 struct {
	opts   options
	srv    *fakeserver.Server
	faults Faults
	reqSeq atomic.Uint64

	mu     sync.RWMutex
	rng    *rand.Rand
	byID   map[string]*inst
	all    []*inst                       // sorted by instLess
	tagIdx map[string]map[string][]*inst // key → value → sorted by instLess
	lag    time.Duration

	callMu sync.Mutex
	calls  []*Call
	counts map[string]int
	total  int
}

// NewEC2 starts an EC2 emulator on a free port of 127.0.0.1. It panics if
// it cannot listen, as httptest does. Close it when done.
func NewEC2(opts ...Option) *EC2 {
	o := buildOptions(opts)
	seed := o.seed
	if !o.seeded {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	e := &EC2{
		opts:   o,
		rng:    rand.New(rand.NewPCG(seed, 0x6177736661)),
		byID:   map[string]*inst{},
		tagIdx: map[string]map[string][]*inst{},
		counts: map[string]int{},
	}
	e.reqSeq.Store(seed)
	fakeserver.Start(e, &e.srv)
	return e
}

// URL is the endpoint to give the SDK as BaseEndpoint.
func (e *EC2) URL() string { return e.srv.URL() }

// Region is the Region the emulator serves.
func (e *EC2) Region() string { return e.opts.region }

// Close stops the server; hanging requests return at once.
func (e *EC2) Close() { e.srv.Close() }

func (e *EC2) now() time.Time { return e.opts.clock().UTC() }

// Launch adds a running instance and returns it.
func (e *EC2) Launch(spec LaunchSpec) Instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	in := &inst{order: e.rng.Uint64()}
	for {
		in.ID = "i-" + e.hex(17)
		if _, dup := e.byID[in.ID]; !dup {
			break
		}
	}
	in.ReservationID = "r-" + e.hex(17)
	in.State = StateRunning
	in.LaunchTime = cmp.Or(spec.LaunchTime, e.opts.clock()).UTC().Truncate(time.Second)
	in.InstanceType = cmp.Or(spec.InstanceType, "t3.micro")
	in.ImageID = cmp.Or(spec.ImageID, "ami-0c02fb55956c7d316")
	in.AvailabilityZone = cmp.Or(spec.AvailabilityZone, e.opts.region+"a")
	a, b := e.rng.IntN(16), 1+e.rng.IntN(254)
	in.PrivateIP = fmt.Sprintf("172.31.%d.%d", 16*a+e.rng.IntN(16), b)
	in.privateDNSName = privateDNSName(in.PrivateIP, e.opts.region)
	in.Tags = map[string]string{}
	e.byID[in.ID] = in
	e.all = insertSorted(e.all, in)
	for k, v := range spec.Tags {
		e.setTagLocked(in, k, v)
	}
	return in.snapshot()
}

func privateDNSName(ip, region string) string {
	host := "ip-"
	for _, c := range ip {
		if c == '.' {
			c = '-'
		}
		host += string(c)
	}
	if region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + region + ".compute.internal"
}

func (e *EC2) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[e.rng.IntN(16)]
	}
	return string(b)
}

func (in *inst) snapshot() Instance {
	s := in.Instance
	s.Tags = maps.Clone(in.Tags)
	return s
}

// Terminate terminates an instance. It stays listed, as terminated, for an
// hour of the emulator's clock.
func (e *EC2) Terminate(id string) error {
	return e.transition(id, StateTerminated)
}

// Stop stops a running instance; stopping a stopped one does nothing.
func (e *EC2) Stop(id string) error {
	return e.transition(id, StateStopped)
}

// Start starts a stopped instance and resets its LaunchTime to now, as AWS
// does; starting a running one does nothing.
func (e *EC2) Start(id string) error {
	return e.transition(id, StateRunning)
}

func (e *EC2) transition(id, to string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.byID[id]
	if !ok {
		return fmt.Errorf("instance %s does not exist in the emulated region %s", id, e.opts.region)
	}
	if in.State == to {
		return nil
	}
	if in.State == StateTerminated {
		return fmt.Errorf("instance %s is terminated: it cannot become %s", id, to)
	}
	now := e.now()
	in.prevState, in.prevLaunch = in.view(now, e.lag)
	in.changedAt, in.hasPrev = now, true
	in.State = to
	switch to {
	case StateRunning:
		in.LaunchTime = now.Truncate(time.Second)
	case StateTerminated:
		in.terminatedAt = now
	}
	return nil
}

// Instance returns the current state of an instance.
func (e *EC2) Instance(id string) (Instance, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	in, ok := e.byID[id]
	if !ok {
		return Instance{}, false
	}
	return in.snapshot(), true
}

// Instances returns every instance, terminated ones included, in no
// particular order.
func (e *EC2) Instances() []Instance {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Instance, 0, len(e.all))
	for _, in := range e.all {
		out = append(out, in.snapshot())
	}
	return out
}

// Tags returns a copy of an instance's tags, nil if it does not exist.
func (e *EC2) Tags(id string) map[string]string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if in, ok := e.byID[id]; ok {
		return maps.Clone(in.Tags)
	}
	return nil
}

// SetTag sets a tag as if someone else had called CreateTags; the call is
// not recorded.
func (e *EC2) SetTag(id, key, value string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.byID[id]
	if !ok {
		return fmt.Errorf("instance %s does not exist in the emulated region %s", id, e.opts.region)
	}
	e.setTagLocked(in, key, value)
	return nil
}

// DeleteTag removes a tag as if someone else had called DeleteTags; the call
// is not recorded.
func (e *EC2) DeleteTag(id, key string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.byID[id]
	if !ok {
		return fmt.Errorf("instance %s does not exist in the emulated region %s", id, e.opts.region)
	}
	e.deleteTagLocked(in, key)
	return nil
}

func (e *EC2) setTagLocked(in *inst, key, value string) {
	if old, ok := in.Tags[key]; ok {
		if old == value {
			return
		}
		e.tagIdx[key][old] = removeSorted(e.tagIdx[key][old], in)
		if len(e.tagIdx[key][old]) == 0 {
			delete(e.tagIdx[key], old)
		}
	}
	in.Tags[key] = value
	byValue := e.tagIdx[key]
	if byValue == nil {
		byValue = map[string][]*inst{}
		e.tagIdx[key] = byValue
	}
	byValue[value] = insertSorted(byValue[value], in)
}

func (e *EC2) deleteTagLocked(in *inst, key string) {
	old, ok := in.Tags[key]
	if !ok {
		return
	}
	e.tagIdx[key][old] = removeSorted(e.tagIdx[key][old], in)
	if len(e.tagIdx[key][old]) == 0 {
		delete(e.tagIdx[key], old)
	}
	delete(in.Tags, key)
}

func insertSorted(s []*inst, in *inst) []*inst {
	i, _ := slices.BinarySearchFunc(s, in, instLess)
	return slices.Insert(s, i, in)
}

func removeSorted(s []*inst, in *inst) []*inst {
	if i, found := slices.BinarySearchFunc(s, in, instLess); found {
		return slices.Delete(s, i, i+1)
	}
	return s
}

// SetConsistencyLag makes every later state change (Terminate, Stop,
// Start) visible to DescribeInstances only after d of the emulator's clock:
// a terminated leader keeps showing as running meanwhile. Launches and tags
// are visible at once.
func (e *EC2) SetConsistencyLag(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lag = d
}

// Inject adds a fault; see [Fault].
func (e *EC2) Inject(f Fault) { e.faults.Inject(f) }

// ClearFaults removes every fault; the latency stays.
func (e *EC2) ClearFaults() { e.faults.Clear() }

// SetLatency delays every answer by d (zero for none).
func (e *EC2) SetLatency(d time.Duration) { e.faults.SetLatency(d) }

// Calls counts the requests received for action, answered or not, failed
// or not; "" counts every request.
func (e *EC2) Calls(action string) int {
	e.callMu.Lock()
	defer e.callMu.Unlock()
	if action == "" {
		return e.total
	}
	return e.counts[action]
}

// FirstCalls counts the requests for action that the SDK sent as first
// attempts: the SDK retries a request whose connection Go's HTTP client
// closed under it (aws-sdk-go-v2#2737), and a retry is not a new call of
// the code under test. It reads the call log, so it sees the last 10,000.
func (e *EC2) FirstCalls(action string) int {
	n := 0
	for _, c := range e.CallLog() {
		if c.Action == action && c.Attempt <= 1 {
			n++
		}
	}
	return n
}

// CallLog returns the requests received since the start or ResetCalls,
// oldest first; only the last 10,000 are kept, so that a long simulation
// does not grow without bound (Calls still counts them all).
func (e *EC2) CallLog() []Call {
	e.callMu.Lock()
	defer e.callMu.Unlock()
	out := make([]Call, len(e.calls))
	for i, c := range e.calls {
		out[i] = *c
	}
	return out
}

// ResetCalls forgets the requests received so far.
func (e *EC2) ResetCalls() {
	e.callMu.Lock()
	defer e.callMu.Unlock()
	e.calls, e.counts, e.total = nil, map[string]int{}, 0
}

// maxCallLog bounds the call log.
const maxCallLog = 10_000

func (e *EC2) record(c *Call) {
	e.callMu.Lock()
	defer e.callMu.Unlock()
	if len(e.calls) == maxCallLog {
		e.calls = slices.Delete(e.calls, 0, maxCallLog/10)
	}
	e.calls = append(e.calls, c)
	e.counts[c.Action]++
	e.total++
}

func (e *EC2) answered(c *Call, status int, code string) {
	e.callMu.Lock()
	defer e.callMu.Unlock()
	c.Status, c.Code = status, code
}

func (e *EC2) requestID() string {
	x := splitmix(e.reqSeq.Add(1))
	y := splitmix(x)
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		uint32(x>>32), uint16(x>>16), uint16(x)&0xfff, uint16(y>>48)&0x3fff|0x8000, y&0xffffffffffff)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
