package deploy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// maxBinarySize is the most a release binary may weigh. Holding SDK clients
// as method values (see elect/aws.go) keeps it near 14 MB; one *ec2.Client
// reaching an interface through kong's reflection puts it back over 40 MB.
const maxBinarySize = 16 << 20

// TestMakeDist checks the release binaries make dist built (see dist) the
// way a user of them relies on: per architecture a static, stripped default
// binary without metrics and one with them, stamped with the version, no
// build paths, and checksums that sha256sum -c accepts, and a size of at
// most maxBinarySize each (Elastic Beanstalk bundles carry two). It is also
// the binary-size test, so the size is checked by the same build a release
// makes. This machine's architecture always; both with
// LEADERGATE_DIST_MATRIX=1.
func TestMakeDist(t *testing.T) {
	dist := dist(t)
	t.Logf("make dist (%s) took %v", strings.Join(distArches, ", "), distTook.Round(time.Millisecond))
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	version, commit := distVersion, distCommit

	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"SHA256SUMS"}
	for _, arch := range distArches {
		want = append(want, "leadergate-linux-"+arch)
	}
	for _, arch := range distArches {
		want = append(want, "leadergate-metrics-linux-"+arch)
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("dist holds %q, want exactly %q (no temporary files)", names, want)
	}

	var binaries []string
	for _, tc := range []struct {
		arch    string
		machine elf.Machine
		metrics bool
	}{
		{"amd64", elf.EM_X86_64, false},
		{"arm64", elf.EM_AARCH64, false},
		{"amd64", elf.EM_X86_64, true},
		{"arm64", elf.EM_AARCH64, true},
	} {
		if !slices.Contains(distArches, tc.arch) {
			continue
		}
		name := "leadergate-linux-" + tc.arch
		if tc.metrics {
			name = "leadergate-metrics-linux-" + tc.arch
		}
		binaries = append(binaries, name)
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dist, name)
			f, err := elf.Open(path)
			if err != nil {
				t.Fatalf("%s is not an ELF binary: %v", path, err)
			}
			defer f.Close()
			if f.Machine != tc.machine {
				t.Errorf("machine = %v, want %v", f.Machine, tc.machine)
			}
			// Static: no dynamic loader, no shared libraries, so it runs
			// on Amazon Linux 2 and 2023 and in scratch containers alike.
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("has a dynamic loader (PT_INTERP): not static; is CGO_ENABLED=0 set?")
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("links shared libraries %v", libs)
			}
			// -s: no symbol table.
			if f.Section(".symtab") != nil {
				t.Error("has a symbol table: not built with -ldflags -s")
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes (%.1f MiB)", filepath.Base(path), len(data), float64(len(data))/(1<<20))
			if len(data) > maxBinarySize {
				t.Errorf("%s is %.1f MiB, over the %d MiB limit: is an SDK client (*ec2.Client, *dynamodb.Client ...) stored in a struct or interface instead of as method values? go build -ldflags=-dumpdep shows what keeps its methods", path, float64(len(data))/(1<<20), maxBinarySize>>20)
			}
			if !bytes.Contains(data, []byte(version)) {
				t.Errorf("the binary does not carry the version %s: does package main declare var version?", version)
			}
			// The metrics binary serves --metrics-addr; the default one
			// must not link client_golang, whose init every cron line
			// would pay (docs/performance.md).
			if has := bytes.Contains(data, []byte("leadergate_job_runs_total")); has != tc.metrics {
				t.Errorf("%s has Prometheus metrics: %v, want %v: is make dist's VARIANTS right (the default without tags, -metrics with -tags metrics)?", name, has, tc.metrics)
			}
			if bytes.Contains(data, []byte(repo+"/")) {
				t.Errorf("the binary contains the build path %s: not built with -trimpath", repo)
			}
			if tc.arch == runtime.GOARCH && runtime.GOOS == "linux" {
				out, err := exec.Command(path, "version").CombinedOutput()
				if err != nil {
					t.Errorf("%s version: %v\n%s", path, err, out)
				}
				for _, want := range []string{version, commit} {
					if !strings.Contains(string(out), want) {
						t.Errorf("leadergate version says %q, want it to name %s", out, want)
					}
				}
			}
		})
	}

	// SHA256SUMS: "HASH  NAME" per binary, as sha256sum -c reads it.
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Errorf("SHA256SUMS line %q is not in sha256sum format", sc.Text())
			continue
		}
		data, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Errorf("SHA256SUMS names %q: %v", name, err)
			continue
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
			t.Errorf("SHA256SUMS: wrong checksum for %s", name)
		}
		seen[name] = true
	}
	for _, name := range binaries {
		if !seen[name] {
			t.Errorf("SHA256SUMS has no line for %s", name)
		}
	}
	if len(seen) != len(binaries) {
		t.Errorf("SHA256SUMS covers %v, want the binaries %v and nothing else", seen, binaries)
	}
	if sha, err := exec.LookPath("sha256sum"); err == nil {
		c := exec.Command(sha, "-c", "SHA256SUMS")
		c.Dir = dist
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
		}
	}
}
