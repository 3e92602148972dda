package schedule

import (
	"strings"
	"testing"
)

// TestPingAndOnFailureDirectives: # ping: takes an http(s) URL (a trailing
// slash dropped, as URL/start is appended), # on-failure: a command; a bad
// value is a line error naming the fix.
func TestPingAndOnFailureDirectives(t *testing.T) {
	c, err := Parse(strings.NewReader("# ping: https://hc-ping.com/abc/\n# on-failure: /usr/local/bin/alert --job x\n0 3 * * * true\n"), "jobs.cron")
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Jobs[0]; j.Ping != "https://hc-ping.com/abc" || j.OnFailure != "/usr/local/bin/alert --job x" {
		t.Errorf("ping %q, on-failure %q", j.Ping, j.OnFailure)
	}
	for _, bad := range []string{"# ping: hc-ping.com/abc", "# ping: ftp://x/y", "# on-failure:"} {
		_, err := Parse(strings.NewReader(bad+"\n0 3 * * * true\n"), "jobs.cron")
		if err == nil || !strings.Contains(err.Error(), "jobs.cron:1:") {
			t.Errorf("%q: %v, want an error at line 1", bad, err)
		}
	}
}
