package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/leadergate/leadergate/internal/headless"
)

// browse PAGE opens PAGE in a headless Chromium, fails if it asks for
// anything but itself, and prints on stdout what a person sees: the page's
// visible text (innerText, without tooltips or closed <details>), for
// stdout to check. Guard it with the condition [chromium].
func cmdBrowse(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: browse PAGE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a wedged browser fails, never hangs
	defer cancel()
	profile, err := os.MkdirTemp(ts.MkAbs("."), ".chromium-")
	ts.Check(err)
	b, err := headless.Start(ctx, profile)
	ts.Check(err)
	defer b.Close()
	url := "file://" + ts.MkAbs(args[0])
	ts.Check(b.Open(ctx, url))
	if !slices.Equal(b.Requests, []string{url}) {
		ts.Fatalf("the page asked for %q, want only itself", b.Requests)
	}
	var text string
	ts.Check(b.Eval(ctx, "document.body.innerText", &text))
	_, err = ts.Stdout().Write([]byte(text))
	ts.Check(err)
}

// condChromium is the script condition [chromium]: Chromium is installed.
// Without it the lines it guards are skipped, unless
// LEADERGATE_REQUIRE_CHROMIUM=1 (CI), which makes a missing Chromium an
// error.
func condChromium(cond string) (bool, error) {
	if cond != "chromium" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if headless.Installed() {
		return true, nil
	}
	if os.Getenv("LEADERGATE_REQUIRE_CHROMIUM") == "1" {
		return false, headless.ErrNoChromium
	}
	return false, nil
}
