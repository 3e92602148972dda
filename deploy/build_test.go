package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The release binaries the tests use are built once per package run, by
// make dist for this machine's architecture (the default build and the
// metrics build, as a release makes them), and shared by every test:
// TestMakeDist checks them, the install tests install them, the deployment
// simulator runs them. Cold (empty build cache) that is two builds of the
// module instead of the six it used to be.
//
// Cross-compiling the other architecture proves only that it compiles and
// stays under the size limit; that is worth a few minutes in CI, not on
// every go test ./...: LEADERGATE_DIST_MATRIX=1 (.ci/run sets it) builds
// the whole release matrix, as make dist does by default.

var (
	distOnce    sync.Once
	distDir     string
	distVersion string
	distOut     []byte
	distErr     error
	distTook    time.Duration
	distArches  []string
)

const distCommit = "c0ffee1"

// testRoot holds what the package's tests share; TestMain removes it.
var testRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "leadergate-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// distMatrix reports whether this run builds every release architecture.
func distMatrix() bool { return os.Getenv("LEADERGATE_DIST_MATRIX") == "1" }

// dist runs make dist once per package run and returns its directory.
func dist(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the release binaries; skipped with -short")
	}
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("the release binaries are linux/amd64 and linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	distOnce.Do(func() {
		distDir = filepath.Join(testRoot, "dist")
		distVersion = fmt.Sprintf("v0.0.0-disttest-%d", time.Now().UnixNano())
		distArches = []string{runtime.GOARCH}
		if distMatrix() {
			distArches = []string{"amd64", "arm64"}
		}
		args := []string{"-C", "..", "dist", "DIST=" + distDir, "VERSION=" + distVersion, "COMMIT=" + distCommit}
		if !distMatrix() {
			args = append(args, "ARCHES="+runtime.GOARCH)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		// Progress for go test -v: a cold build takes minutes.
		fmt.Fprintf(os.Stderr, "deploy tests: make %v (once for the package)\n", args[2:])
		start := time.Now()
		distOut, distErr = exec.CommandContext(ctx, "make", args...).CombinedOutput()
		distTook = time.Since(start)
	})
	if distErr != nil {
		t.Fatalf("make dist: %v\n%s", distErr, distOut)
	}
	return distDir
}

// buildHostBinary returns the release binary for this machine: the default
// build, or with tags "metrics" the metrics one.
func buildHostBinary(t *testing.T, tags string) string {
	t.Helper()
	name := "leadergate-linux-" + runtime.GOARCH
	if tags == "metrics" {
		name = "leadergate-metrics-linux-" + runtime.GOARCH
	}
	return filepath.Join(dist(t), name)
}

func runtimeArch() string { return runtime.GOARCH }

func itoa(n int) string { return fmt.Sprint(n) }
