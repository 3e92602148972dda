package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// testMachinery reports whether pkg is for tests only: the moto_server
// launcher (and the LEADERGATE_REQUIRE_MOTO switch it reads), the fault
// proxy in front of it, the deployment simulator, the fake clock, the EMF
// checks, the browser driver, AWS's metadata mock, the process helpers and
// testscript.
func testMachinery(pkg string) bool {
	for _, suffix := range []string{"/internal/motoserver", "/internal/awsfake/faultproxy", "/internal/ebsim", "/clocktest",
		"/emftest", "/internal/headless", "/internal/aemm", "/internal/proctest"} {
		if strings.HasSuffix(pkg, suffix) {
			return true
		}
	}
	return strings.Contains(pkg, "testscript")
}

// TestReleaseBinaryLinksNoTestMachinery: the release binary links none of
// the test machinery.
func TestReleaseBinaryLinksNoTestMachinery(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if testMachinery(pkg) {
			t.Errorf("the leadergate binary links %s, which is test machinery", pkg)
		}
	}
}

// TestOnlyTestsImportTestMachinery: outside the test machinery itself,
// only _test.go files import it, in either build (a package the default
// binary does not link yet, or the metrics build, could otherwise bring it
// into a release).
func TestOnlyTestsImportTestMachinery(t *testing.T) {
	for _, tags := range []string{"", "metrics"} {
		out, err := exec.Command("go", "list", "-tags", tags, "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").CombinedOutput()
		if err != nil {
			t.Skipf("go list: %v\n%s", err, out)
		}
		for line := range strings.Lines(string(out)) {
			pkg, imports, _ := strings.Cut(strings.TrimSpace(line), " ")
			if testMachinery(pkg) {
				continue
			}
			for imp := range strings.FieldsSeq(imports) {
				if testMachinery(imp) {
					t.Errorf("%s imports %s in a file that is not a _test.go file (tags %q); test machinery is for tests only (internal/README.md)", pkg, imp, tags)
				}
			}
		}
	}
}

// TestDefaultBinaryLinksNoMetrics: prometheus/client_golang's package init
// (its default registry registers the Go and process collectors, protobuf
// registers its descriptors) costs every process about 4.5 ms before main,
// which took the cached check from 1.17x to 1.5x the baseline. Only the
// metrics build (-tags metrics, leadergate-metrics-linux-*) may link it.
func TestDefaultBinaryLinksNoMetrics(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, heavy := range []string{"github.com/prometheus/", "google.golang.org/protobuf/", "expvar"} {
			if strings.HasPrefix(pkg, heavy) {
				t.Errorf("the default leadergate binary links %s: its init slows every cached check and run; keep it behind the metrics build tag (internal/cli/schedule_metrics.go)", pkg)
			}
		}
	}
}

// TestDefaultBinaryLinksNoTemplates: html/template and text/template (with
// the reflection-driven execution they keep alive) took the plain build
// (go build -trimpath -ldflags "-s -w") to 16.45 MiB, over the 16 MiB
// limit, for one page; internal/timeline writes it with plain Go code and
// html.EscapeString instead (internal/timeline/page.go).
func TestDefaultBinaryLinksNoTemplates(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "html/template" || pkg == "text/template" {
			t.Errorf("the default leadergate binary links %s: it costs about 0.5 MiB of the 16 MiB every cron line's binary may weigh; write markup with internal/timeline's escaping writer instead, or measure and update docs/performance.md and this test", pkg)
		}
	}
}

// TestBinaryLinksNoSchemaTables: service/dynamodb from v1.69.0 and
// service/autoscaling from v1.81.0 carry schema tables ("schema-based
// serialization") whose package init costs every cached check and run
// 2 to 3 ms each before main starts, which is a third of the start-up of a
// Go binary linking the EC2 client. go.mod pins the last releases
// without them; this fails when an upgrade brings them back, so that it
// is a decision rather than an accident (docs/performance.md).
func TestBinaryLinksNoSchemaTables(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "metrics", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, svc := range []string{"dynamodb", "autoscaling", "ec2"} {
			if pkg == "github.com/aws/aws-sdk-go-v2/service/"+svc+"/schemas" {
				t.Errorf("the leadergate binary links %s: its init slows every cached check; pin service/%s to its last release without schema tables, or measure (make bench) and update docs/performance.md and this test", pkg, svc)
			}
		}
	}
}

// TestBinaryEmbedsTimeZones: CRON_TZ=Europe/Berlin must work where the host
// has no time zone database (minimal containers), so the binary carries
// its own (time/tzdata).
func TestBinaryEmbedsTimeZones(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	if !slices.Contains(strings.Fields(string(out)), "time/tzdata") {
		t.Error("the leadergate binary does not embed time/tzdata: CRON_TZ fails on hosts without /usr/share/zoneinfo")
	}
}

// TestRootHoldsMainOnly: the repository's top level is main.go (which only
// wires), a few project-wide tests, and the folders of the layout; the
// command line lives in internal/cli, the domain in its packages.
func TestRootHoldsMainOnly(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"main.go", "layout_test.go", "release_test.go", // Go
		"gate", "schedule", "elect", "ledger", "lifecycle", "internal", // packages
		"testdata", "deploy", "docs", "scripts", // the rest of the layout
		"go.mod", "go.sum", "README.md", "Makefile", "LICENSE", "leadergate", "dist"} // files (and build outputs, ignored by git)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || slices.Contains(allowed, e.Name()) {
			continue
		}
		t.Errorf("%s at the top level: the CLI belongs in internal/cli, a domain in its own package (see internal/README.md)", e.Name())
	}
}
