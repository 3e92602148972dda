package awsfake

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// FaultKind is a way for a call to fail.
type FaultKind int

const (
	// Throttle answers EC2 calls with RequestLimitExceeded (HTTP 503) and
	// IMDS calls with HTTP 429, as the real services throttle.
	Throttle FaultKind = iota + 1
	// InternalError answers with HTTP 500 (EC2 code InternalError).
	InternalError
	// Unauthorized answers EC2 calls with UnauthorizedOperation (HTTP 403),
	// as when the IAM policy lacks the action, and IMDS calls with HTTP 401.
	Unauthorized
	// Hang gives no answer for Fault.Delay, then answers normally; with no
	// Delay it never answers, until the client gives up or the emulator
	// closes. A hang on the IMDS token path is what a container behind an
	// IMDS hop limit of 1 sees.
	Hang
	// Reset closes the connection without an answer and without passing
	// the call on (faultproxy.Proxy only): nothing was done.
	Reset
	// DropAnswer passes the call on, so that it takes effect, then closes
	// the connection without an answer (faultproxy.Proxy only): a write applied
	// whose reply was lost.
	DropAnswer
)

func (k FaultKind) String() string {
	switch k {
	case Throttle:
		return "throttle"
	case InternalError:
		return "internal error"
	case Unauthorized:
		return "unauthorized"
	case Hang:
		return "hang"
	case Reset:
		return "reset"
	case DropAnswer:
		return "drop answer"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault makes chosen calls fail. Faults apply in the order they were
// injected; a call meets at most one.
type Fault struct {
	Kind FaultKind
	// Action scopes the fault: an EC2 action name ("DescribeInstances") or
	// an IMDS path ("/latest/api/token"). Empty means every call.
	Action string
	// Count is how many matching calls fail before the fault expires;
	// zero means every matching call until ClearFaults.
	Count int
	// Delay is how long a Hang lasts; zero means forever.
	Delay time.Duration
	// Code overrides the error code a DynamoDB Throttle answers with
	// (ProvisionedThroughputExceededException by default; real DynamoDB
	// also sends ThrottlingException).
	Code string
}

// ec2Error is the answer EC2 gives to a call of action meeting f, in an
// account; nil for a Hang, which answers late rather than wrongly.
func (f Fault) ec2Error(accountID, action string) *apiError {
	switch f.Kind {
	case Throttle:
		return errorf(http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
	case InternalError:
		return errorf(http.StatusInternalServerError, "InternalError", "An internal error has occurred")
	case Unauthorized:
		return errorf(http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:sts::%s:assumed-role/leadergate/i-0 is not authorized to perform: ec2:%s because no identity-based policy allows the ec2:%s action", accountID, action, action)
	}
	return nil
}

// EC2Answer is the error answer EC2 gives to a call of action meeting f, in
// the default account, as the status and XML body to send with requestID;
// status 0 when f answers late or not at all rather than wrongly.
func (f Fault) EC2Answer(action, requestID string) (status int, body []byte) {
	aerr := f.ec2Error(buildOptions(nil).accountID, action)
	if aerr == nil {
		return 0, nil
	}
	return aerr.status, errorXML(aerr, requestID)
}

// Faults is the list of faults injected into one emulator, and the latency
// it adds to every call: each emulator here keeps one, and so does the
// test-only faultproxy.Proxy. The zero value holds none.
type Faults struct {
	mu      sync.Mutex
	faults  []*Fault // remaining Count in place
	latency time.Duration
}

// Inject adds a fault after those already injected.
func (s *Faults) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Clear removes every fault.
func (s *Faults) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetLatency delays every call by d.
func (s *Faults) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Take returns the fault a call of action meets, if any, counting it
// against the fault's Count, and the latency to add.
func (s *Faults) Take(action string) (Fault, bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Action != "" && f.Action != action {
			continue
		}
		got := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return got, true, s.latency
	}
	return Fault{}, false, s.latency
}
