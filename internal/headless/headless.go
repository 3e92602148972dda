// Package headless drives a real Chromium for tests: it opens a page, waits
// for its load event, evaluates JavaScript in it, and takes a screenshot,
// over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on
// the browser's fd 3, answers and events on its fd 4, each message a JSON
// object ended by a NUL byte). No port is opened, no library needed.
//
// It is test machinery: the leadergate binary must not link it.
//
// Tests call [ForTest], which skips the test when Chromium is not
// installed, unless LEADERGATE_REQUIRE_CHROMIUM=1 (CI sets it), which makes
// a missing Chromium a failure. Debian: apt-get install -y chromium.
package headless

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadergate/leadergate/internal/proctest"
)

// ErrNoChromium: no Chromium on PATH.
var ErrNoChromium = errors.New("chromium is not installed (Debian: apt-get install -y chromium)")

// names are the Chromium commands looked for, in order.
var names = []string{"chromium", "chromium-browser", "google-chrome"}

// Browser is one headless Chromium with one page.
type Browser struct {
	cmd     *exec.Cmd
	toB     *os.File // the browser's fd 3
	stderr  *proctest.Buffer
	msgs    chan message
	readErr chan error
	session string
	next    int
	events  []message // received while waiting for something else
	// Requests lists every URL the page asked for (Network.requestWillBeSent),
	// the page itself included.
	Requests []string
}

type message struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// ForTest starts a browser for t and closes it when t ends; it skips t
// when Chromium is not installed and LEADERGATE_REQUIRE_CHROMIUM is not 1.
func ForTest(t testing.TB, ctx context.Context) *Browser {
	t.Helper()
	b, err := Start(ctx, t.TempDir())
	if errors.Is(err, ErrNoChromium) && os.Getenv("LEADERGATE_REQUIRE_CHROMIUM") != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Installed reports whether a Chromium is on PATH.
func Installed() bool { return chromium() != "" }

func chromium() string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Start starts Chromium with its profile in dir, and opens an empty page.
func Start(ctx context.Context, dir string) (*Browser, error) {
	bin := chromium()
	if bin == "" {
		return nil, ErrNoChromium
	}
	toB, fromUs, err := os.Pipe() // we write fromUs, the browser reads toB (its fd 3)
	if err != nil {
		return nil, err
	}
	fromB, toUs, err := os.Pipe() // the browser writes toUs (its fd 4), we read fromB
	if err != nil {
		return nil, err
	}
	b := &Browser{stderr: new(proctest.Buffer), msgs: make(chan message, 64), readErr: make(chan error, 1), toB: fromUs}
	b.cmd = exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--no-first-run", "--no-default-browser-check", "--mute-audio",
		"--hide-scrollbars", "--user-data-dir="+dir, "--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{toB, toUs}
	b.cmd.Stderr = b.stderr
	// Its own process group, so that a browser that does not close is
	// killed with its renderers; and no wait on a pipe they hold.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.WaitDelay = 5 * time.Second
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	toB.Close()
	toUs.Close()
	go b.read(fromB)

	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		b.Close()
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached); err != nil {
		b.Close()
		return nil, err
	}
	b.session = attached.SessionID
	for _, domain := range []string{"Page.enable", "Network.enable", "Runtime.enable"} {
		if err := b.call(ctx, b.session, domain, nil, nil); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *Browser) read(r *os.File) {
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			b.readErr <- fmt.Errorf("the browser closed its end of the pipe (%v); its stderr:\n%s", err, b.stderrTail())
			close(b.msgs)
			return
		}
		var m message
		if err := json.Unmarshal(raw[:len(raw)-1], &m); err != nil {
			continue
		}
		b.msgs <- m
	}
}

func (b *Browser) stderrTail() string {
	s := b.stderr.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// receive returns the next message, or why none will come.
func (b *Browser) receive(ctx context.Context) (message, error) {
	select {
	case m, ok := <-b.msgs:
		if !ok {
			return message{}, <-b.readErr
		}
		if m.Method == "Network.requestWillBeSent" {
			var p struct {
				Request struct {
					URL string `json:"url"`
				} `json:"request"`
			}
			if json.Unmarshal(m.Params, &p) == nil {
				b.Requests = append(b.Requests, p.Request.URL)
			}
		}
		return m, nil
	case <-ctx.Done():
		return message{}, fmt.Errorf("waiting for the browser: %w; its stderr:\n%s", ctx.Err(), b.stderrTail())
	}
}

// call sends a command and waits for its answer; events that come first
// are kept for waitEvent.
func (b *Browser) call(ctx context.Context, session, method string, params any, result any) error {
	b.next++
	id := b.next
	cmd := map[string]any{"id": id, "method": method}
	if params != nil {
		cmd["params"] = params
	}
	if session != "" {
		cmd["sessionId"] = session
	}
	raw, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	if _, err := b.toB.Write(append(raw, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	for {
		m, err := b.receive(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		if m.ID != id {
			if m.Method != "" {
				b.events = append(b.events, m)
			}
			continue
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	}
}

// waitEvent waits for the page's event named method.
func (b *Browser) waitEvent(ctx context.Context, method string) error {
	for i, m := range b.events {
		if m.Method == method && m.SessionID == b.session {
			b.events = append(b.events[:i], b.events[i+1:]...)
			return nil
		}
	}
	for {
		m, err := b.receive(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", method, err)
		}
		if m.Method == method && m.SessionID == b.session {
			return nil
		}
		if m.Method != "" {
			b.events = append(b.events, m)
		}
	}
}

// Open loads url in the page and returns once its load event has fired
// (the document, its styles and images are in).
func (b *Browser) Open(ctx context.Context, url string) error {
	b.events = b.events[:0]
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, b.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("open %s: %s", url, nav.ErrorText)
	}
	return b.waitEvent(ctx, "Page.loadEventFired")
}

// Eval evaluates a JavaScript expression in the page and decodes its
// value (JSON-serialisable) into out.
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("evaluate: %s %s", e.Text, e.Exception.Description)
	}
	return json.Unmarshal(res.Result.Value, out)
}

// Screenshot renders the page at width CSS pixels, as tall as its content,
// and returns a PNG.
func (b *Browser) Screenshot(ctx context.Context, width int) ([]byte, error) {
	metrics := map[string]any{"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": false}
	if err := b.call(ctx, b.session, "Emulation.setDeviceMetricsOverride", metrics, nil); err != nil {
		return nil, err
	}
	var height int
	if err := b.Eval(ctx, "Math.ceil(document.documentElement.scrollHeight)", &height); err != nil {
		return nil, err
	}
	metrics["height"] = height
	if err := b.call(ctx, b.session, "Emulation.setDeviceMetricsOverride", metrics, nil); err != nil {
		return nil, err
	}
	var shot struct {
		Data string `json:"data"`
	}
	if err := b.call(ctx, b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(shot.Data)
}

// Close ends the browser and waits for it.
func (b *Browser) Close() {
	if b.cmd.Process == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if b.call(ctx, "", "Browser.close", nil, nil) != nil {
		b.kill()
	}
	b.toB.Close()
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.kill()
		<-done
	}
	b.cmd.Process = nil
}

// kill ends the browser's process group (the one Start made).
func (b *Browser) kill() { _ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) }

// Version is the browser's product string, e.g. "HeadlessChrome/156.0...".
func (b *Browser) Version(ctx context.Context) (string, error) {
	var v struct {
		Product string `json:"product"`
	}
	err := b.call(ctx, "", "Browser.getVersion", nil, &v)
	return strings.TrimSpace(v.Product), err
}
