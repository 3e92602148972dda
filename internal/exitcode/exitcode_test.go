package exitcode

import (
	"errors"
	"fmt"
	"testing"
)

type coded struct{ code int }

func (c coded) Error() string { return fmt.Sprint("coded ", c.code) }
func (c coded) ExitCode() int { return c.code }

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"no error is success", nil, OK},
		{"an error that names no code is a plain failure", errors.New("boom"), Failure},
		{"a code travels on the error", coded{Config}, Config},
		{"a code survives wrapping", fmt.Errorf("ledger: %w", coded{TempFail}), TempFail},
		{"the outermost code wins", coded{Usage}, Usage},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("%s: Of = %d, want %d", tc.name, got, tc.want)
		}
	}
	if Is(nil, OK) {
		t.Error("Is(nil, OK): nil is no error to ask about")
	}
}
