// Package fakeserver is the HTTP plumbing that awsfake's emulators and the
// test-only faultproxy share: a loopback server that can be closed while
// handlers hang, the waits that end when it closes, and what they read
// from every request.
package fakeserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBody is the largest request body a fake reads.
const MaxBody = 1 << 20

// Server is a loopback HTTP server that can be closed while some of its
// handlers hang: closing is closed first, so hanging handlers return.
type Server struct {
	url       string
	srv       *http.Server
	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

// Start listens on a free port of 127.0.0.1 and serves h. It stores the
// server in *into before serving, so a handler that reads its own server
// (to see it closing) never races with that store. Like httptest, it panics
// if it cannot listen: a machine without a loopback interface cannot emulate
// AWS.
func Start(h http.Handler, into **Server) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("awsfake: listen on 127.0.0.1: %v", err))
	}
	s := &Server{
		url:     "http://" + ln.Addr().String(),
		srv:     &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	*into = s
	go func() {
		defer close(s.done)
		// Serve returns only when the server is closed or the listener
		// fails; either way there is nothing left to serve.
		_ = s.srv.Serve(ln)
	}()
}

// URL is the server's address, http://127.0.0.1:port.
func (s *Server) URL() string { return s.url }

// Close stops the server; hanging handlers return first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
		<-s.done
	})
}

// Sleep waits d, or forever when d is zero and forever is set; it reports
// false when the request or the server ended first.
func (s *Server) Sleep(ctx context.Context, d time.Duration, forever bool) bool {
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
	case <-s.closing:
		return false
	}
}

// SDKAttempt reads the attempt number from the SDK's Amz-Sdk-Request
// header, "attempt=2; max=3"; 0 when there is none.
func SDKAttempt(h string) int {
	for part := range strings.SplitSeq(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}
