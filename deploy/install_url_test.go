package deploy

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestInstallFromURL: with LEADERGATE_URL and LEADERGATE_SHA256 the
// binary comes from a release server (127.0.0.1 here), not the bundle:
// installed when the pinned SHA256SUMS and the binary check out; a
// deployment that fails with one clear line, and nothing installed, when
// the pin does not match, the binary is corrupt, the release is missing
// (404) or the pin is not given. LEADERGATE_VARIANT=metrics fetches and
// checks the release's leadergate-metrics-linux-* instead.
func TestInstallFromURL(t *testing.T) {
	f0 := newFixture(t)
	good := f0.amd64
	metrics := fakeRelease("leadergate-metrics-linux-amd64")
	// A release as make dist writes it, and one from before the metrics
	// binaries had their own name.
	sums := []byte(fmt.Sprintf("%x  leadergate-linux-amd64\n%x  leadergate-linux-arm64\n%x  leadergate-metrics-linux-amd64\n",
		sha256.Sum256(good), sha256.Sum256(f0.arm64), sha256.Sum256(metrics)))
	pin := fmt.Sprintf("%x", sha256.Sum256(sums))
	oldSums := []byte(fmt.Sprintf("%x  leadergate-linux-amd64\n%x  leadergate-linux-arm64\n", sha256.Sum256(good), sha256.Sum256(f0.arm64)))
	oldPin := fmt.Sprintf("%x", sha256.Sum256(oldSums))
	// A release whose metrics binary is the default build.
	mislabelledSums := []byte(fmt.Sprintf("%x  leadergate-linux-amd64\n%x  leadergate-metrics-linux-amd64\n", sha256.Sum256(good), sha256.Sum256(good)))
	mislabelledPin := fmt.Sprintf("%x", sha256.Sum256(mislabelledSums))
	files := map[string][]byte{
		"/good/SHA256SUMS": sums, "/good/leadergate-linux-amd64": good, "/good/leadergate-metrics-linux-amd64": metrics,
		"/corrupt/SHA256SUMS": sums, "/corrupt/leadergate-linux-amd64": good[:len(good)/2], "/corrupt/leadergate-metrics-linux-amd64": metrics[:len(metrics)/2],
		"/nometrics/SHA256SUMS": sums, "/nometrics/leadergate-linux-amd64": good,
		"/mislabelled/SHA256SUMS": mislabelledSums, "/mislabelled/leadergate-metrics-linux-amd64": good,
		"/old/SHA256SUMS": oldSums, "/old/leadergate-linux-amd64": good, "/old/leadergate-metrics-linux-amd64": metrics,
	}
	// What each subtest asked the server for.
	var mu sync.Mutex
	var requested []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requested = append(requested, r.URL.Path)
		mu.Unlock()
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()

	const variant = "LEADERGATE_VARIANT=metrics"
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
		{"the metrics variant installs the release's metrics binary", []string{variant, "LEADERGATE_URL=" + srv.URL + "/good", "LEADERGATE_SHA256=" + pin}, nil},
		{"a release without the metrics binary (404)", []string{variant, "LEADERGATE_URL=" + srv.URL + "/nometrics", "LEADERGATE_SHA256=" + pin}, []string{"cannot download " + srv.URL + "/nometrics/leadergate-metrics-linux-amd64"}},
		{"a corrupt metrics binary", []string{variant, "LEADERGATE_URL=" + srv.URL + "/corrupt", "LEADERGATE_SHA256=" + pin}, []string{"leadergate-metrics-linux-amd64 does not match", "SHA256SUMS"}},
		{"a metrics binary that is the default build", []string{variant, "LEADERGATE_URL=" + srv.URL + "/mislabelled", "LEADERGATE_SHA256=" + mislabelledPin}, []string{srv.URL + "/mislabelled/leadergate-metrics-linux-amd64 is not the build with metrics", "LEADERGATE_URL"}},
		{"a SHA256SUMS without the metrics binary's line", []string{variant, "LEADERGATE_URL=" + srv.URL + "/old", "LEADERGATE_SHA256=" + oldPin}, []string{"SHA256SUMS has no line for leadergate-metrics-linux-amd64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			requested = nil
			mu.Unlock()
			f := newFixture(t)
			// Not from the bundle: it has no binaries.
			if err := os.RemoveAll(f.bundle + "/.leadergate"); err != nil {
				t.Fatal(err)
			}
			if tc.stderr == nil {
				f.mustRun(tc.settings...)
				want, name := good, "leadergate-linux-amd64"
				if contains(tc.settings, variant) {
					want, name = metrics, "leadergate-metrics-linux-amd64"
				}
				if got := f.expectFile("/usr/local/bin/leadergate", 0o755, false); string(got) != string(want) {
					t.Errorf("the installed binary is not the release's %s:\n%s", name, got)
				}
				// SHA256SUMS and that one binary, nothing else.
				mu.Lock()
				defer mu.Unlock()
				if len(requested) != 2 || requested[0] != "/good/SHA256SUMS" || requested[1] != "/good/"+name {
					t.Errorf("downloaded %q, want /good/SHA256SUMS and /good/%s", requested, name)
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
