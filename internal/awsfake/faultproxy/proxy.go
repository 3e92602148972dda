// Package faultproxy puts faults in front of moto_server for tests: a
// proxy that passes EC2 and DynamoDB calls on, counts them, and answers
// the faults injected into it in the service's own error shape. It is
// test machinery: only _test.go files and the test rigs import it, and
// the release binary never links it (layout_test.go at the root fails when
// it does). The faults are awsfake's ([awsfake.Fault]), so the emulators
// and the proxy fail alike.
package faultproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/internal/fakeserver"
)

// Proxy sits in front of another EC2 or DynamoDB endpoint, such as
// moto_server: it counts the calls and injects the faults that endpoint
// cannot (throttling, 500s, hangs, resets, a write applied whose answer is
// dropped, UnauthorizedOperation), answering them
// in the service's own error shape, and passes every other call through
// unchanged.
type Proxy struct {
	upstream string
	faults   awsfake.Faults
	srv      *fakeserver.Server

	// serial makes DynamoDB calls one at a time: moto_server checks a
	// condition and writes the item without a lock, so two concurrent
	// conditional writes can both succeed (seen in the ledger's fleet test:
	// two reruns at fence 2). Real DynamoDB's conditional writes are atomic.
	serial sync.Mutex

	mu    sync.Mutex
	calls map[string]int
	seq   int
}

// New starts a proxy to upstream (e.g. Moto.URL) on a free port of
// 127.0.0.1. Close it when done.
func New(upstream string) *Proxy {
	p := &Proxy{upstream: upstream, calls: map[string]int{}}
	fakeserver.Start(p, &p.srv)
	return p
}

// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL_EC2).
func (p *Proxy) URL() string { return p.srv.URL() }

// Close stops the proxy; hanging calls return.
func (p *Proxy) Close() { p.srv.Close() }

// Inject adds a fault, as [awsfake.EC2.Inject].
func (p *Proxy) Inject(f awsfake.Fault) { p.faults.Inject(f) }

// ClearFaults removes every fault.
func (p *Proxy) ClearFaults() { p.faults.Clear() }

// Calls returns how many calls of action reached the proxy as the SDK's
// first attempts, failed ones included.
func (p *Proxy) Calls(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[action]
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, fakeserver.MaxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, _ := url.ParseQuery(string(body))
	action := form.Get("Action")
	// DynamoDB speaks JSON and names its action in a header:
	// X-Amz-Target: DynamoDB_20120810.PutItem.
	target := r.Header.Get("X-Amz-Target")
	if _, op, ok := strings.Cut(target, "."); ok {
		action = op
	}
	p.mu.Lock()
	// Count what the SDK sent as first attempts: its retries are not
	// new calls of the code under test.
	if fakeserver.SDKAttempt(r.Header.Get("Amz-Sdk-Request")) <= 1 {
		p.calls[action]++
	}
	p.seq++
	reqID := fmt.Sprintf("00000000-0000-4000-8000-%012d", p.seq)
	p.mu.Unlock()

	f, hit, latency := p.faults.Take(action)
	if !p.srv.Sleep(r.Context(), latency, false) {
		panic(http.ErrAbortHandler)
	}
	if hit {
		if status, body := dynamoError(f); target != "" && status != 0 {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("X-Amzn-Requestid", reqID)
			w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)) // as DynamoDB sends
			w.WriteHeader(status)
			_, _ = w.Write(body)
			return
		}
		if status, body := f.EC2Answer(action, reqID); target == "" && status != 0 {
			w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
			w.WriteHeader(status)
			_, _ = w.Write(body)
			return
		}
		if f.Kind == awsfake.Hang && !p.srv.Sleep(r.Context(), f.Delay, true) {
			panic(http.ErrAbortHandler)
		}
		if f.Kind == awsfake.Reset {
			panic(http.ErrAbortHandler) // the client sees the connection close
		}
	}

	if target != "" {
		p.serial.Lock()
		defer p.serial.Unlock()
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if hit && f.Kind == awsfake.DropAnswer {
		_, _ = io.Copy(io.Discard, resp.Body) // applied upstream; the answer is lost
		panic(http.ErrAbortHandler)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// ResetCalls starts counting calls again.
func (p *Proxy) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = map[string]int{}
}

// dynamoError is the answer DynamoDB gives to a call meeting f: HTTP 400
// with a JSON __type for throttling and refusals, 500 for an internal
// error; status 0 for a Hang.
func dynamoError(f awsfake.Fault) (status int, body []byte) {
	var code, msg string
	switch f.Kind {
	case awsfake.Throttle:
		status, code, msg = http.StatusBadRequest, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded."
		if f.Code != "" {
			code = f.Code
		}
	case awsfake.InternalError:
		status, code, msg = http.StatusInternalServerError, "InternalServerError", "Internal server error"
	case awsfake.Unauthorized:
		status, code, msg = http.StatusBadRequest, "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/leadergate/i-0 is not authorized to perform this action"
	default:
		return 0, nil
	}
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg})
	return status, b
}
