package deploy

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withMetricsBinaries adds the metrics variant's fake binaries to the
// fixture's bundle, next to the default ones, and a SHA256SUMS listing all
// four, as make dist writes them. It returns the amd64 one's contents.
func withMetricsBinaries(f *fixture) (amd64 []byte) {
	f.t.Helper()
	amd64 = fakeRelease("leadergate-metrics-linux-amd64")
	arm64 := fakeRelease("leadergate-metrics-linux-arm64")
	f.write(f.bundle+"/.leadergate/leadergate-metrics-linux-amd64", amd64, 0o755)
	f.write(f.bundle+"/.leadergate/leadergate-metrics-linux-arm64", arm64, 0o755)
	f.write(f.bundle+"/.leadergate/SHA256SUMS", []byte(fmt.Sprintf(
		"%x  leadergate-linux-amd64\n%x  leadergate-linux-arm64\n%x  leadergate-metrics-linux-amd64\n%x  leadergate-metrics-linux-arm64\n",
		sha256.Sum256(f.amd64), sha256.Sum256(f.arm64), sha256.Sum256(amd64), sha256.Sum256(arm64))), 0o644)
	return amd64
}

// snapshot lists every file and directory under dir with its mode and
// contents, to tell whether a run wrote anything.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[path] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// expectUnchanged reports what a run added, removed or changed since before.
func expectUnchanged(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, v := range after {
		if w, ok := before[p]; !ok {
			t.Errorf("%s was written", p)
		} else if w != v {
			t.Errorf("%s was changed", p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s was removed", p)
		}
	}
}

// TestInstallVariant: LEADERGATE_VARIANT picks which of the bundle's two
// binaries for this CPU is installed; the other one is left alone.
func TestInstallVariant(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings []string
		metrics  bool   // the metrics binary is the one installed
		say      string // in the success line
	}{
		{"unset: the default binary", nil, false, "installed /usr/local/bin/leadergate (amd64)"},
		{"empty: the default binary", []string{"LEADERGATE_VARIANT="}, false, "installed /usr/local/bin/leadergate (amd64)"},
		{"metrics: the metrics binary", []string{"LEADERGATE_VARIANT=metrics"}, true, "installed /usr/local/bin/leadergate (amd64, with metrics)"},
		{"metrics on arm64", []string{"LEADERGATE_VARIANT=metrics", "LEADERGATE_ARCH=aarch64"}, true, "installed /usr/local/bin/leadergate (arm64, with metrics)"},
		{"metrics in cron mode", []string{"LEADERGATE_VARIANT=metrics", "LEADERGATE_MODE=cron"}, true, "installed /usr/local/bin/leadergate (amd64, with metrics) for cron lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			metricsAmd64 := withMetricsBinaries(f)
			out := f.mustRun(tc.settings...)
			if !strings.Contains(out, tc.say) {
				t.Errorf("stdout lacks %q:\n%s", tc.say, out)
			}
			name := "leadergate-linux-amd64"
			want := f.amd64
			switch {
			case tc.metrics && contains(tc.settings, "LEADERGATE_ARCH=aarch64"):
				name, want = "leadergate-metrics-linux-arm64", nil
			case tc.metrics:
				name, want = "leadergate-metrics-linux-amd64", metricsAmd64
			}
			bin := f.expectFile("/usr/local/bin/leadergate", 0o755, false)
			if !strings.Contains(string(bin), `echo "`+name+` $*"`) || (want != nil && string(bin) != string(want)) {
				t.Errorf("installed:\n%s\nwant the bundle's %s", bin, name)
			}
			calls := f.calls()
			if !contains(calls, name+" version") {
				t.Errorf("%s was not tried before being installed; calls: %q", name, calls)
			}
			for _, c := range calls {
				if strings.HasPrefix(c, "leadergate-") && !strings.HasPrefix(c, name+" ") {
					t.Errorf("another binary than %s ran: %q", name, c)
				}
			}
			if _, err := os.Stat(f.bundle + "/.leadergate"); err == nil {
				t.Error(".leadergate/ was left in the bundle, which may be the web server's document root")
			}
		})
	}
}

// A wrong variant, or a bundle or SHA256SUMS without the variant's binary,
// fails the deployment in one line naming the fix, and installs nothing.
func TestInstallVariantFailures(t *testing.T) {
	const oldBinary = "#!/bin/sh\n# the version already installed\n"
	for _, tc := range []struct {
		name     string
		prepare  func(f *fixture)
		settings []string
		stderr   []string // substrings of the one error line
	}{
		{
			name:     "not a variant",
			prepare:  func(f *fixture) { withMetricsBinaries(f) },
			settings: []string{"LEADERGATE_VARIANT=prometheus"},
			stderr:   []string{"LEADERGATE_VARIANT=prometheus is not a variant", "use metrics", "leave it unset"},
		},
		{
			name:     "the bundle has only the default binaries",
			settings: []string{"LEADERGATE_VARIANT=metrics"},
			stderr:   []string{".leadergate/leadergate-metrics-linux-amd64 not found", "copy dist/leadergate-metrics-linux-* into .leadergate/"},
		},
		{
			name: "the bundle has only the metrics binaries",
			prepare: func(f *fixture) {
				withMetricsBinaries(f)
				os.Remove(f.bundle + "/.leadergate/leadergate-linux-amd64")
			},
			stderr: []string{".leadergate/leadergate-linux-amd64 not found", "copy dist/leadergate-linux-* into .leadergate/"},
		},
		{
			name: "SHA256SUMS from a make dist without the metrics binaries",
			prepare: func(f *fixture) {
				sums, err := os.ReadFile(f.bundle + "/.leadergate/SHA256SUMS")
				if err != nil {
					t.Fatal(err)
				}
				withMetricsBinaries(f)
				f.write(f.bundle+"/.leadergate/SHA256SUMS", sums, 0o644)
			},
			settings: []string{"LEADERGATE_VARIANT=metrics"},
			stderr:   []string{"SHA256SUMS has no line for leadergate-metrics-linux-amd64"},
		},
		{
			name: "SHA256SUMS with the metrics binaries only",
			prepare: func(f *fixture) {
				m := withMetricsBinaries(f)
				f.write(f.bundle+"/.leadergate/SHA256SUMS", []byte(fmt.Sprintf("%x  leadergate-metrics-linux-amd64\n", sha256.Sum256(m))), 0o644)
			},
			stderr: []string{"SHA256SUMS has no line for leadergate-linux-amd64"},
		},
		{
			name: "the default build under the metrics binary's name",
			prepare: func(f *fixture) {
				withMetricsBinaries(f)
				f.write(f.bundle+"/.leadergate/leadergate-metrics-linux-amd64", f.amd64, 0o755)
				os.Remove(f.bundle + "/.leadergate/SHA256SUMS")
			},
			settings: []string{"LEADERGATE_VARIANT=metrics"},
			stderr:   []string{".leadergate/leadergate-metrics-linux-amd64 is not the build with metrics", "no metrics)", "copy dist/leadergate-metrics-linux-*"},
		},
		{
			name: "a metrics binary that does not match SHA256SUMS",
			prepare: func(f *fixture) {
				m := withMetricsBinaries(f)
				f.write(f.bundle+"/.leadergate/leadergate-metrics-linux-amd64", m[:len(m)/2], 0o755)
			},
			settings: []string{"LEADERGATE_VARIANT=metrics"},
			stderr:   []string{"leadergate-metrics-linux-amd64 does not match", "SHA256SUMS"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.write(f.root+"/usr/local/bin/leadergate", []byte(oldBinary), 0o755)
			if tc.prepare != nil {
				tc.prepare(f)
			}
			stderr := f.mustFail(tc.settings, tc.stderr...)
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "leadergate install: error: ") {
				t.Errorf("stderr is not one error line:\n%s", stderr)
			}
			f.expectNothingInstalled(oldBinary)
		})
	}
}

// TestInstallMetricsAddrNeedsMetricsBinary: environment properties that ask
// the scheduler for metrics (LEADERGATE_METRICS_ADDR) with the default
// binary, which would refuse them at every start (exit 78), fail the
// deployment before anything is written; with the metrics binary, or with
// no address, it installs.
func TestInstallMetricsAddrNeedsMetricsBinary(t *testing.T) {
	const metricsFix = "set LEADERGATE_VARIANT=metrics and put dist/leadergate-metrics-linux-* in .leadergate/ (or remove LEADERGATE_METRICS_ADDR)"
	for _, tc := range []struct {
		name     string
		env      string // the environment file
		settings []string
		fails    bool
	}{
		{"an address with the default binary", "DB_PASSWORD=secret\nLEADERGATE_METRICS_ADDR=127.0.0.1:9746\n", nil, true},
		{"a quoted address with the default binary", "LEADERGATE_METRICS_ADDR=\"127.0.0.1:9746\"\n", nil, true},
		{"an address after an empty one (the last one counts)", "LEADERGATE_METRICS_ADDR=\nLEADERGATE_METRICS_ADDR=127.0.0.1:9746\n", nil, true},
		{"an address with LEADERGATE_VARIANT empty", "LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n", []string{"LEADERGATE_VARIANT="}, true},
		{"an address with the metrics binary", "LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n", []string{"LEADERGATE_VARIANT=metrics"}, false},
		{"an empty value", "DB_PASSWORD=secret\nLEADERGATE_METRICS_ADDR=\n", nil, false},
		{"an empty quoted value", "LEADERGATE_METRICS_ADDR=\"\"\n", nil, false},
		{"an empty value after an address (the last one counts)", "LEADERGATE_METRICS_ADDR=127.0.0.1:9746\nLEADERGATE_METRICS_ADDR=\n", nil, false},
		{"a commented-out address", "# LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n#LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n", nil, false},
		{"another variable whose name starts the same", "LEADERGATE_METRICS_ADDRESS=127.0.0.1:9746\nX_LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n", nil, false},
		{"an address in cron mode (cron lines serve no metrics)", "LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n", []string{"LEADERGATE_MODE=cron"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			metricsAmd64 := withMetricsBinaries(f)
			f.write(f.root+ebEnvFile, []byte(tc.env), 0o600)
			if !tc.fails {
				f.mustRun(tc.settings...)
				want := f.amd64
				if contains(tc.settings, "LEADERGATE_VARIANT=metrics") {
					want = metricsAmd64
				}
				if got := f.expectFile("/usr/local/bin/leadergate", 0o755, false); string(got) != string(want) {
					t.Errorf("installed:\n%s\nwant:\n%s", got, want)
				}
				return
			}
			root, bundle := snapshot(t, f.root), snapshot(t, f.bundle)
			_, stderr, err := f.run(tc.settings...)
			if err == nil {
				t.Fatal("install.sh succeeded: the scheduler would exit 78 at every start")
			}
			want := "leadergate install: error: LEADERGATE_METRICS_ADDR is set in " + ebEnvFile +
				" but the default binary, leadergate-linux-amd64, has no metrics: " + metricsFix
			if strings.TrimSpace(stderr) != want {
				t.Errorf("stderr:\n%s\nwant the one line:\n%s", stderr, want)
			}
			expectUnchanged(t, root, snapshot(t, f.root))
			expectUnchanged(t, bundle, snapshot(t, f.bundle))
			if calls := f.calls(); len(calls) > 0 {
				t.Errorf("ran %q before failing", calls)
			}
		})
	}

	t.Run("with a release URL the fix names no bundle files", func(t *testing.T) {
		f := newFixture(t)
		f.write(f.root+ebEnvFile, []byte("LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n"), 0o600)
		// No server: the check comes before any download.
		_, stderr, err := f.run("LEADERGATE_URL=http://127.0.0.1:1/v1.2.3", "LEADERGATE_SHA256="+strings.Repeat("0", 64))
		want := "leadergate install: error: LEADERGATE_METRICS_ADDR is set in " + ebEnvFile +
			" but the default binary, leadergate-linux-amd64, has no metrics: set LEADERGATE_VARIANT=metrics (or remove LEADERGATE_METRICS_ADDR)"
		if err == nil || strings.TrimSpace(stderr) != want {
			t.Errorf("err %v, stderr:\n%s\nwant the one line:\n%s", err, stderr, want)
		}
	})
}

// A configuration deployment (new environment properties) runs the install
// again on the live application and keeps the binary installed with it: an
// address for metrics then needs that binary to have them, whatever
// LEADERGATE_VARIANT says now; the binary's version line tells.
func TestInstallAgainMetricsAddrAsksTheKeptBinary(t *testing.T) {
	const addr = "LEADERGATE_METRICS_ADDR=127.0.0.1:9746\n"
	for _, tc := range []struct {
		name         string
		first, again []string // settings of the application and of the configuration deployment
		installed    string   // instead of a first deployment: the installed binary
		fails        bool
	}{
		{name: "default binary, address added", fails: true},
		{name: "default binary, address and LEADERGATE_VARIANT=metrics added", again: []string{"LEADERGATE_VARIANT=metrics"}, fails: true},
		{name: "metrics binary, address added", first: []string{"LEADERGATE_VARIANT=metrics"}, again: []string{"LEADERGATE_VARIANT=metrics"}},
		{name: "metrics binary, LEADERGATE_VARIANT since removed", first: []string{"LEADERGATE_VARIANT=metrics"}},
		{name: "a leadergate whose version line does not name the build", installed: "#!/bin/sh\necho 'leadergate v1.0.0 (go1.22.0 linux/amd64)'\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			withMetricsBinaries(f)
			if tc.installed == "" {
				f.mustRun(tc.first...)
			} else {
				f.write(f.root+"/usr/local/bin/leadergate", []byte(tc.installed), 0o755)
				if err := os.RemoveAll(f.bundle + "/.leadergate"); err != nil {
					t.Fatal(err)
				}
				f.write(f.bundle+"/.leadergate-installed", []byte("x\n"), 0o644)
			}
			bin := f.expectFile("/usr/local/bin/leadergate", 0o755, false)
			f.write(f.root+ebEnvFile, []byte(addr), 0o600)
			if !tc.fails {
				if out := f.mustRun(tc.again...); !strings.Contains(out, "kept /usr/local/bin/leadergate") {
					t.Errorf("stdout:\n%s", out)
				}
				return
			}
			root := snapshot(t, f.root)
			_, stderr, err := f.run(tc.again...)
			if err == nil {
				t.Fatal("install.sh succeeded: the kept binary has no metrics, the scheduler would exit 78 at every start")
			}
			want := "leadergate install: error: LEADERGATE_METRICS_ADDR is set in " + ebEnvFile +
				" but /usr/local/bin/leadergate, installed from this application version before, has no metrics: deploy the application again with LEADERGATE_VARIANT=metrics and dist/leadergate-metrics-linux-* in .leadergate/ (or remove LEADERGATE_METRICS_ADDR)"
			if strings.TrimSpace(stderr) != want {
				t.Errorf("stderr:\n%s\nwant the one line:\n%s", stderr, want)
			}
			expectUnchanged(t, root, snapshot(t, f.root))
			if got := f.expectFile("/usr/local/bin/leadergate", 0o755, false); string(got) != string(bin) {
				t.Error("the installed binary changed")
			}
		})
	}
}
