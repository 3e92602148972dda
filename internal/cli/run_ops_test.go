package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunPingURLAndOnFailure: run --ping-url through the binary pings
// URL/start, then URL on success or POSTs the output's tail to
// URL/<exit code> on failure, and the command's exit code and output pass
// through unchanged; --on-failure runs with the report in its
// environment; a ping server answering 500 changes nothing but one
// warning line.
func TestRunPingURLAndOnFailure(t *testing.T) {
	srv := newPingServer(t, false)
	dir := t.TempDir()

	code, stdout, stderr := runLeadergate(t, dir, "--assume", "leader", "run", "--ping-url", srv.URL+"/ok", "--", "echo", "hello")
	if code != 0 || stdout != "hello\n" || stderr != "" {
		t.Errorf("success: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	hook := "env | grep -E '^LEADERGATE_(JOB|EXIT_CODE|OUTPUT_TAIL)=' > " + filepath.Join(dir, "hook")
	code, stdout, _ = runLeadergate(t, dir, "--assume", "leader", "run", "--ping-url", srv.URL+"/bad", "--on-failure", hook, "--", "sh", "-c", "echo boom; exit 4")
	if code != 4 || stdout != "boom\n" {
		t.Errorf("failure: exit %d, stdout %q; want 4 and the output unchanged", code, stdout)
	}
	all := strings.Join(srv.lines(), "\n")
	for _, want := range []string{"GET /ok/start ", "GET /ok ", "GET /bad/start ", "POST /bad/4 boom\n"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q among the pings:\n%s", want, all)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "hook"))
	if err != nil {
		t.Fatalf("the --on-failure command did not run: %v", err)
	}
	if env := string(b); !strings.Contains(env, "LEADERGATE_EXIT_CODE=4\n") || !strings.Contains(env, "LEADERGATE_OUTPUT_TAIL=boom\n") || !strings.Contains(env, "LEADERGATE_JOB=sh -c echo boom; exit 4\n") {
		t.Errorf("hook environment:\n%s", env)
	}

	code, stdout, stderr = runLeadergate(t, dir, "--assume", "leader", "run", "--ping-url", srv.URL+"/broken", "--", "echo", "still")
	if code != 0 || stdout != "still\n" || strings.Count(stderr, "ping failed; the job is not affected") != 2 {
		t.Errorf("ping server answering 500: exit %d, stdout %q, stderr %q; want 0, the output, one warning per ping (start, end)", code, stdout, stderr)
	}
	code, _, stderr = runLeadergate(t, dir, "--assume", "leader", "run", "--ping-url", "hc-ping.com/x", "--", "true")
	if code != 64 || !strings.Contains(stderr, "--ping-url hc-ping.com/x: not an http(s) URL") {
		t.Errorf("bad --ping-url: exit %d, stderr %q; want 64 and the fix", code, stderr)
	}
}
