package awsfake

import (
	"context"
	"encoding/json"
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
	// the call on (Proxy only): nothing was done.
	Reset
	// DropAnswer passes the call on, so that it takes effect, then closes
	// the connection without an answer (Proxy only): a write applied
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

// dynamoError is the answer DynamoDB gives to a call meeting f: HTTP 400
// with a JSON __type for throttling and refusals, 500 for an internal
// error; status 0 for a Hang.
func (f Fault) dynamoError() (status int, body []byte) {
	var code, msg string
	switch f.Kind {
	case Throttle:
		status, code, msg = http.StatusBadRequest, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded."
		if f.Code != "" {
			code = f.Code
		}
	case InternalError:
		status, code, msg = http.StatusInternalServerError, "InternalServerError", "Internal server error"
	case Unauthorized:
		status, code, msg = http.StatusBadRequest, "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/leadergate/i-0 is not authorized to perform this action"
	default:
		return 0, nil
	}
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg})
	return status, b
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

type faultSet struct {
	mu      sync.Mutex
	faults  []*Fault // remaining Count in place
	latency time.Duration
}

func (s *faultSet) inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

func (s *faultSet) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *faultSet) setLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// take returns the fault this call meets, if any, and the latency to add.
func (s *faultSet) take(action string) (Fault, bool, time.Duration) {
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

// sleep waits d, or forever when d is zero and forever is set; it reports
// false when the request or the emulator ended first.
func sleep(ctx context.Context, closing <-chan struct{}, d time.Duration, forever bool) bool {
	if d <= 0 && !forever {
		return true
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-ctx.Done():
		return false
	case <-closing:
		return false
	}
}
