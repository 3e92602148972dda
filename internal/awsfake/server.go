package awsfake

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// server is a loopback HTTP server that can be closed while some of its
// handlers hang: closing is closed first, so hanging handlers return.
type server struct {
	url       string
	srv       *http.Server
	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

// startServer listens on a free port of 127.0.0.1 and serves h. It stores the
// server in *into before serving, so a handler that reads its own server
// (to see it closing) never races with that store. Like httptest, it panics
// if it cannot listen: a machine without a loopback interface cannot emulate
// AWS.
func startServer(h http.Handler, into **server) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("awsfake: listen on 127.0.0.1: %v", err))
	}
	s := &server{
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

func (s *server) close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
		<-s.done
	})
}
