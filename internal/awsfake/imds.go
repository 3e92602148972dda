package awsfake

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/leadergate/leadergate/internal/awsfake/internal/fakeserver"
)

// IMDS paths, for Fault.Action and Calls.
const (
	IMDSTokenPath    = "/latest/api/token"
	IMDSIdentityPath = "/latest/dynamic/instance-identity/document"
)

const (
	imdsTokenHeader = "X-Aws-Ec2-Metadata-Token"
	imdsTTLHeader   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	imdsMaxTTL      = 21600
)

// identityDocument is the JSON of /latest/dynamic/instance-identity/document,
// fields in the order AWS writes them.
type identityDocument struct {
	AccountID               string    `json:"accountId"`
	Architecture            string    `json:"architecture"`
	AvailabilityZone        string    `json:"availabilityZone"`
	BillingProducts         []string  `json:"billingProducts"`
	DevpayProductCodes      []string  `json:"devpayProductCodes"`
	MarketplaceProductCodes []string  `json:"marketplaceProductCodes"`
	ImageID                 string    `json:"imageId"`
	InstanceID              string    `json:"instanceId"`
	InstanceType            string    `json:"instanceType"`
	KernelID                *string   `json:"kernelId"`
	PendingTime             time.Time `json:"pendingTime"`
	PrivateIP               string    `json:"privateIp"`
	RamdiskID               *string   `json:"ramdiskId"`
	Region                  string    `json:"region"`
	Version                 string    `json:"version"`
}

// IMDS emulates the IMDSv2 instance metadata service of one instance over
// HTTP on 127.0.0.1, with IMDSv1 disabled (HttpTokens=required). All its
// methods are safe for concurrent use.
type IMDS struct {
	opts   options
	srv    *fakeserver.Server
	faults Faults
	doc    identityDocument
	data   map[string]string // metadata path → value

	mu     sync.Mutex
	tokens map[string]time.Time // token → expiry
	calls  map[string]int       // path → requests
}

// NewIMDS starts the metadata service of instance instanceID in region on
// a free port of 127.0.0.1. It panics if it cannot listen, as httptest does.
// Close it when done.
func NewIMDS(instanceID, region string, opts ...Option) *IMDS {
	o := buildOptions(opts)
	h := fnv.New32a()
	h.Write([]byte(instanceID))
	sum := h.Sum32()
	doc := identityDocument{
		AccountID:        o.accountID,
		Architecture:     "x86_64",
		AvailabilityZone: region + "a",
		ImageID:          "ami-0c02fb55956c7d316",
		InstanceID:       instanceID,
		InstanceType:     "t3.micro",
		PendingTime:      o.clock().UTC().Truncate(time.Second),
		PrivateIP:        fmt.Sprintf("172.31.%d.%d", sum>>8&0xff, 1+sum%254),
		Region:           region,
		Version:          "2017-09-30",
	}
	if in := o.instance; in != nil {
		doc.AvailabilityZone = in.AvailabilityZone
		doc.ImageID = in.ImageID
		doc.InstanceType = in.InstanceType
		doc.PendingTime = in.LaunchTime
		doc.PrivateIP = in.PrivateIP
	}
	m := &IMDS{
		opts:   o,
		doc:    doc,
		tokens: map[string]time.Time{},
		calls:  map[string]int{},
		data: map[string]string{
			"/latest/meta-data/instance-id":                 doc.InstanceID,
			"/latest/meta-data/placement/region":            doc.Region,
			"/latest/meta-data/placement/availability-zone": doc.AvailabilityZone,
			"/latest/meta-data/ami-id":                      doc.ImageID,
			"/latest/meta-data/instance-type":               doc.InstanceType,
			"/latest/meta-data/local-ipv4":                  doc.PrivateIP,
		},
	}
	js, _ := json.MarshalIndent(doc, "", "  ")
	m.data[IMDSIdentityPath] = string(js)
	fakeserver.Start(m, &m.srv)
	return m
}

// URL is the endpoint to give the SDK's imds client as Endpoint.
func (m *IMDS) URL() string { return m.srv.URL() }

// Close stops the server; hanging requests return at once.
func (m *IMDS) Close() { m.srv.Close() }

// Inject adds a fault; Fault.Action is a path such as IMDSTokenPath.
func (m *IMDS) Inject(f Fault) { m.faults.Inject(f) }

// ClearFaults removes every fault; the latency stays.
func (m *IMDS) ClearFaults() { m.faults.Clear() }

// SetLatency delays every answer by d (zero for none).
func (m *IMDS) SetLatency(d time.Duration) { m.faults.SetLatency(d) }

// Calls counts the requests received for path, answered or not; ""
// counts every request.
func (m *IMDS) Calls(path string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if path != "" {
		return m.calls[path]
	}
	n := 0
	for _, c := range m.calls {
		n += c
	}
	return n
}

// ResetCalls forgets the requests received so far.
func (m *IMDS) ResetCalls() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = map[string]int{}
}

// ServeHTTP answers one metadata request.
func (m *IMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	m.mu.Lock()
	m.calls[path]++
	m.mu.Unlock()

	status, body, answer := m.handle(w, r)
	if !answer {
		m.opts.logger.Debug("imds request got no answer", "method", r.Method, "path", path)
		panic(http.ErrAbortHandler)
	}
	m.opts.logger.Debug("imds request", "method", r.Method, "path", path, "status", status)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Server", "EC2ws")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}

func (m *IMDS) handle(w http.ResponseWriter, r *http.Request) (status int, body string, answer bool) {
	path := r.URL.Path
	f, hit, latency := m.faults.Take(path)
	if !m.srv.Sleep(r.Context(), latency, false) {
		return 0, "", false
	}
	if hit {
		switch f.Kind {
		case Throttle:
			return http.StatusTooManyRequests, "Too Many Requests", true
		case InternalError:
			return http.StatusInternalServerError, "Internal Server Error", true
		case Unauthorized:
			return http.StatusUnauthorized, "Unauthorized", true
		case Hang:
			if !m.srv.Sleep(r.Context(), f.Delay, true) {
				return 0, "", false
			}
		}
	}
	now := m.opts.clock()
	if path == IMDSTokenPath {
		if r.Method != http.MethodPut {
			return http.StatusMethodNotAllowed, "Method Not Allowed", true
		}
		// IMDS refuses token requests that went through a proxy.
		if r.Header.Get("X-Forwarded-For") != "" {
			return http.StatusForbidden, "Forbidden", true
		}
		ttl, err := strconv.Atoi(r.Header.Get(imdsTTLHeader))
		if err != nil || ttl < 1 || ttl > imdsMaxTTL {
			return http.StatusBadRequest, "Bad Request", true
		}
		var raw [40]byte
		_, _ = crand.Read(raw[:])
		tok := "AQAEA" + base64.RawURLEncoding.EncodeToString(raw[:])
		m.mu.Lock()
		for t, exp := range m.tokens {
			if !now.Before(exp) {
				delete(m.tokens, t)
			}
		}
		m.tokens[tok] = now.Add(time.Duration(ttl) * time.Second)
		m.mu.Unlock()
		w.Header().Set(imdsTTLHeader, strconv.Itoa(ttl))
		return http.StatusOK, tok, true
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return http.StatusMethodNotAllowed, "Method Not Allowed", true
	}
	// IMDSv1 is disabled: every read needs a live token.
	m.mu.Lock()
	exp, ok := m.tokens[r.Header.Get(imdsTokenHeader)]
	m.mu.Unlock()
	if !ok || !now.Before(exp) {
		return http.StatusUnauthorized, "Unauthorized", true
	}
	v, ok := m.data[path]
	if !ok {
		return http.StatusNotFound, "Not Found", true
	}
	return http.StatusOK, v, true
}
