package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestReleaseWorkflow reads .github/workflows/release.yml back: it runs on
// v* tags, runs .ci/run (the CI test command), then make dist, checks the
// sums, and only then attaches every binary make dist builds (each
// architecture without and with metrics) plus
// SHA256SUMS to the release.
func TestReleaseWorkflow(t *testing.T) {
	b, err := os.ReadFile(".github/workflows/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On struct {
			Push struct {
				Tags []string `yaml:"tags"`
			} `yaml:"push"`
		} `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			Steps []struct {
				Name string `yaml:"name"`
				Uses string `yaml:"uses"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("release.yml is not valid YAML: %v", err)
	}
	if !slices.Equal(wf.On.Push.Tags, []string{"v*"}) {
		t.Errorf("runs on tags %q, want [v*]", wf.On.Push.Tags)
	}
	if wf.Permissions["contents"] != "write" {
		t.Errorf("permissions %v: a release needs contents: write", wf.Permissions)
	}
	job, ok := wf.Jobs["release"]
	if !ok {
		t.Fatalf("no release job in %v", wf.Jobs)
	}
	index := func(re string) int {
		r := regexp.MustCompile(re)
		for i, s := range job.Steps {
			if r.MatchString(s.Run) {
				return i
			}
		}
		t.Errorf("no step runs %s", re)
		return -1
	}
	test, dist, sums, publish := index(`(^|\s)\./\.ci/run\b`), index(`(^|\s)make dist\b`), index(`sha256sum -c SHA256SUMS`), index(`gh release create`)
	if !(test < dist && dist < sums && sums < publish) {
		t.Errorf("steps in order test %d, dist %d, sums %d, publish %d: want tests, then dist, then checksums, then publish", test, dist, sums, publish)
	}
	// Every binary make dist builds is attached.
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) []string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(.+)$`).FindSubmatch(mk)
		if m == nil {
			t.Fatalf("no %s in the Makefile", name)
		}
		return strings.Fields(string(m[1]))
	}
	arches, variants := field("ARCHES"), field("VARIANTS")
	if len(variants) != 2 {
		t.Errorf("VARIANTS = %q, want the default and the metrics binary", variants)
	}
	if publish >= 0 {
		run := job.Steps[publish].Run
		for _, arch := range arches {
			for _, v := range variants {
				name, _, _ := strings.Cut(v, ":")
				if !strings.Contains(run, "dist/"+name+"-linux-"+arch) {
					t.Errorf("the release does not attach dist/%s-linux-%s: %s", name, arch, run)
				}
			}
		}
		if !strings.Contains(run, "dist/SHA256SUMS") {
			t.Errorf("the release does not attach SHA256SUMS: %s", run)
		}
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "go test ./...") {
		t.Error(".ci/run no longer runs go test ./...: the release would test less than the README says")
	}
}
