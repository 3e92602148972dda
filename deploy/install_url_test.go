package deploy

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestInstallFromURL: with LEADERGATE_URL and LEADERGATE_SHA256 the
// binary comes from a release server (127.0.0.1 here), not the bundle:
// installed when the pinned SHA256SUMS and the binary check out; a
// deployment that fails with one clear line, and nothing installed, when
// the pin does not match, the binary is corrupt, the release is missing
// (404) or the pin is not given.
func TestInstallFromURL(t *testing.T) {
	f0 := newFixture(t)
	good := f0.amd64
	sums := []byte(fmt.Sprintf("%x  leadergate-linux-amd64\n%x  leadergate-linux-arm64\n", sha256.Sum256(good), sha256.Sum256(f0.arm64)))
	pin := fmt.Sprintf("%x", sha256.Sum256(sums))
	files := map[string][]byte{
		"/good/SHA256SUMS": sums, "/good/leadergate-linux-amd64": good,
		"/corrupt/SHA256SUMS": sums, "/corrupt/leadergate-linux-amd64": good[:len(good)/2],
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name     string
		settings []string
		stderr   []string // substrings of the one error line; none: success
	}{
		{"a good release installs", []string{"LEADERGATE_URL=" + srv.URL + "/good", "LEADERGATE_SHA256=" + pin}, nil},
		{"a pin that does not match", []string{"LEADERGATE_URL=" + srv.URL + "/good", "LEADERGATE_SHA256=" + strings.Repeat("0", 64)}, []string{"checksum mismatch", "LEADERGATE_SHA256 pins", "nothing installed"}},
		{"a corrupt binary", []string{"LEADERGATE_URL=" + srv.URL + "/corrupt", "LEADERGATE_SHA256=" + pin}, []string{"does not match", "SHA256SUMS"}},
		{"a missing release (404)", []string{"LEADERGATE_URL=" + srv.URL + "/v9.9.9", "LEADERGATE_SHA256=" + pin}, []string{"cannot download " + srv.URL + "/v9.9.9/SHA256SUMS"}},
		{"no pin", []string{"LEADERGATE_URL=" + srv.URL + "/good"}, []string{"LEADERGATE_SHA256 is not set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			// Not from the bundle: it has no binaries.
			if err := os.RemoveAll(f.bundle + "/.leadergate"); err != nil {
				t.Fatal(err)
			}
			if tc.stderr == nil {
				f.mustRun(tc.settings...)
				if got := f.expectFile("/usr/local/bin/leadergate", 0o755, false); string(got) != string(good) {
					t.Error("the installed binary is not the release's")
				}
				return
			}
			out, errs, err := f.run(tc.settings...)
			if err == nil {
				t.Fatalf("install succeeded:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "leadergate install: error: ") {
				t.Errorf("stderr is not one error line:\n%s", errs)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errs, want) {
					t.Errorf("stderr %q lacks %q", errs, want)
				}
			}
			if _, err := os.Stat(f.root + "/usr/local/bin/leadergate"); err == nil {
				t.Error("a binary was installed")
			}
			if _, err := os.Stat(f.root + "/etc/systemd/system/leadergate.service"); err == nil {
				t.Error("the unit was written")
			}
		})
	}
}
