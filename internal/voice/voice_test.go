package voice

import (
	"strings"
	"testing"
)

func TestSayPrefixesEveryLine(t *testing.T) {
	var b strings.Builder
	Say(&b, Warning, "first\nsecond\n")
	Say(&b, Info, "why")
	want := "leadergate: warning: first\nleadergate: warning: second\nleadergate: why\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
