package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReleaseBinaryLinksNoTestMachinery: the moto_server launcher (and the
// LEADERGATE_REQUIRE_MOTO switch it reads) is for tests; the release binary
// must not link it.
func TestReleaseBinaryLinksNoTestMachinery(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/internal/motoserver") || strings.Contains(pkg, "testscript") {
			t.Errorf("the leadergate binary links %s, which is test machinery", pkg)
		}
	}
}
