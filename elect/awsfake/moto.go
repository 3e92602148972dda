package awsfake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// ErrNoMoto means moto_server is not installed.
var ErrNoMoto = errors.New("moto_server not found in PATH (pip install 'moto[server]')")

// Moto is a running moto_server (Python moto, a third-party EC2 emulator),
// listening on a free port of 127.0.0.1. The in-process EC2 emulator can be
// wrong the same way as our code; moto is an independent check. It pages
// DescribeInstances by reservation, checks no signature or IAM policy and
// has no eventual consistency or throttling.
type Moto struct {
	URL string
	cmd *exec.Cmd
}

// StartMoto starts moto_server and waits until it answers.
func StartMoto(ctx context.Context) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(m.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return m, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.Close()
			return nil, fmt.Errorf("moto_server did not answer on %s: %w", m.URL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Reset forgets every resource, between tests sharing one server.
func (m *Moto) Reset() error {
	resp, err := http.Post(m.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Close stops moto_server and its children.
func (m *Moto) Close() {
	if m.cmd.Process != nil {
		syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		m.cmd.Wait()
	}
}
