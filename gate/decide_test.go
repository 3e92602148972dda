package gate

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/leadergate/leadergate/internal/exitcode"
)

type codedErr struct{ code int }

func (e codedErr) Error() string { return fmt.Sprintf("boom %d", e.code) }
func (e codedErr) ExitCode() int { return e.code }

func TestDecide(t *testing.T) {
	argv := []string{"php", "app/console", "foo"}
	leader := Permit{Run: true, Reason: "i-1 is the leader"}
	follower := Permit{Run: false, Reason: "i-2 is a follower"}
	stale := func(p Permit) Permit {
		p.Stale, p.Note = true, "using the verdict of 12:00 (--stale-ok): imds down"
		return p
	}

	cases := []struct {
		name    string
		permit  Permit
		err     error
		opts    Options
		act     action
		code    int
		lines   []string
		errWant string
	}{
		{name: "a leader runs, silently", permit: leader, act: actRun},
		{name: "a leader with -v says why", permit: leader, opts: Options{Verbose: true}, act: actRun,
			lines: []string{`running "php app/console foo": i-1 is the leader`}},
		{name: "a follower exits 0 and says nothing", permit: follower, act: actSkip, code: 0},
		{name: "a follower exits with --follower-exit", permit: follower, opts: Options{FollowerExit: 3}, act: actSkip, code: 3},
		{name: "a follower with -v says why in one line", permit: follower, opts: Options{Verbose: true}, act: actSkip,
			lines: []string{`skipped "php app/console foo": i-2 is a follower`}},
		{name: "a follower in a dry run says it would skip", permit: follower, opts: Options{DryRun: true, Verbose: true}, act: actSkip,
			lines: []string{`dry run: would skip "php app/console foo": i-2 is a follower`}},
		{name: "a leader in a dry run goes on to the checks, quietly", permit: leader, opts: Options{DryRun: true, Verbose: true}, act: actRun},
		{name: "a stale leader runs with a note", permit: stale(leader), act: actRun,
			lines: []string{"warning: using the verdict of 12:00 (--stale-ok): imds down"}},
		{name: "a stale follower skips with the note", permit: stale(follower), opts: Options{FollowerExit: 1}, act: actSkip, code: 1,
			lines: []string{"warning: using the verdict of 12:00 (--stale-ok): imds down"}},
		{name: "cannot tell, temporarily: fail with 75", err: codedErr{75}, act: actFail, code: 75,
			errWant: `run: "php app/console foo" not run: boom 75`},
		{name: "cannot tell, misconfigured: fail with 78", err: codedErr{78}, act: actFail, code: 78,
			errWant: `run: "php app/console foo" not run: boom 78`},
		{name: "cannot tell, error without a code: fail closed with 75", err: errors.New("eof"), act: actFail, code: 75,
			errWant: `run: "php app/console foo" not run: eof`},
		{name: "an error wins over a permit to run", permit: leader, err: errors.New("eof"), act: actFail, code: 75,
			errWant: `run: "php app/console foo" not run: eof`},
		{name: "an error in a dry run is still an error", err: codedErr{78}, opts: Options{DryRun: true}, act: actFail, code: 78,
			errWant: `run: "php app/console foo" not run: boom 78`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Argv = argv
			d := decide(c.permit, c.err, c.opts)
			if d.act != c.act {
				t.Errorf("act = %d, want %d", d.act, c.act)
			}
			if d.act != actRun && d.code != c.code {
				t.Errorf("code = %d, want %d", d.code, c.code)
			}
			if strings.Join(d.lines, "\n") != strings.Join(c.lines, "\n") {
				t.Errorf("lines = %q, want %q", d.lines, c.lines)
			}
			if c.errWant == "" {
				if d.err != nil {
					t.Errorf("err = %v, want none", d.err)
				}
				return
			}
			if d.err == nil || d.err.Error() != c.errWant {
				t.Fatalf("err = %v, want %q", d.err, c.errWant)
			}
			if exitcode.Of(d.err) != c.code {
				t.Errorf("exitcode.Of(err) = %d, want %d", exitcode.Of(d.err), c.code)
			}
			if !errors.Is(d.err, c.err) {
				t.Errorf("err does not wrap the Authority's error")
			}
		})
	}
}

func TestOptionsCheck(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		code int
		msg  string
	}{
		{"no command is a usage error", Options{}, 64, "no command given"},
		{"a follower exit above 255 is a usage error", Options{Argv: []string{"true"}, FollowerExit: 256}, 64, "--follower-exit 256"},
		{"a negative max runtime is a usage error", Options{Argv: []string{"true"}, MaxRuntime: -1}, 64, "--max-runtime"},
		{"a lock name with a slash is a usage error", Options{Argv: []string{"true"}, LockName: "../x"}, 64, `--lock-name "../x"`},
		{"--no-overlap without a directory is a configuration error", Options{Argv: []string{"true"}, NoOverlap: true}, 78, "--state-dir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.opts.check()
			if err == nil || exitcode.Of(err) != c.code || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("check() = %v (exit %d), want exit %d mentioning %q", err, exitcode.Of(err), c.code, c.msg)
			}
		})
	}
	o, err := Options{Argv: []string{"true"}}.check()
	if err != nil || o.Grace != DefaultGrace || o.Stderr == nil {
		t.Errorf("defaults: grace %v, stderr %v, err %v", o.Grace, o.Stderr, err)
	}
}

func TestLockPath(t *testing.T) {
	a := lockPath("/s", "", []string{"php", "app/console", "foo"})
	b := lockPath("/s", "", []string{"php", "app/console", "bar"})
	c := lockPath("/s", "", []string{"php", "app/console foo"})
	if a == b || a == c {
		t.Errorf("different argvs share a lock: %s %s %s", a, b, c)
	}
	if a != lockPath("/s", "", []string{"php", "app/console", "foo"}) {
		t.Errorf("the same argv gives different locks")
	}
	if !strings.HasPrefix(a, "/s/run-php-") || !strings.HasSuffix(a, ".lock") {
		t.Errorf("lock path %s: want /s/run-php-<hash>.lock", a)
	}
	if got := lockPath("/s", "nightly", []string{"x"}); got != "/s/run-nightly.lock" {
		t.Errorf("named lock path = %s", got)
	}
	if got := lockPath("/s", "", []string{"/opt/my prog!"}); !strings.HasPrefix(got, "/s/run-my_prog_-") {
		t.Errorf("lock path for an odd name = %s", got)
	}
}
