package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"
)

var negativeDuration = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(--[A-Za-z0-9-]+): expected (duration|int) value but got "(-[^"]*)" \(short flag\)`)
})

// plainParseError rewrites kong's answer to a negative duration ("expected
// duration value but got "-5s" (short flag); perhaps try --grace="-5s"?")
// into one clear line: the hint would only lead to a value that is refused.
func plainParseError(err error) error {
	if m := negativeDuration().FindStringSubmatch(err.Error()); m != nil {
		if _, perr := time.ParseDuration(m[3]); perr == nil && m[2] == "duration" {
			return fmt.Errorf("%s %s: a duration cannot be negative", m[1], m[3])
		}
		if _, perr := strconv.Atoi(m[3]); perr == nil && m[2] == "int" {
			return fmt.Errorf("%s %s: cannot be negative", m[1], m[3])
		}
	}
	return err
}

// positive refuses a duration flag that is not above zero, rather than
// silently replacing it with a default.
func positive(flag string, d time.Duration, why string) error {
	if d > 0 {
		return nil
	}
	if d < 0 {
		return usageError{fmt.Errorf("%s %s: a duration cannot be negative", flag, d)}
	}
	return usageError{errors.New(flag + " 0s: " + why)}
}
