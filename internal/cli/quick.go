package cli

import (
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// quick runs the two commands cron starts every minute, `check` and
// `run -- CMD`, when they have no flags, without building the kong CLI: its
// reflection is most of what leadergate itself adds to a cached answer.
// Settings come from the LEADERGATE_* variables and the same defaults, read
// from the same struct tags; anything unusual (a flag, a value that does
// not parse) takes the full path, which reports it.
func quick(args []string, d *Deps) (code int, ok bool) {
	var g Globals
	if len(args) == 0 || !fromEnv(&g) {
		return 0, false
	}
	switch {
	case len(args) == 1 && args[0] == "check":
		return exitCode(offEC2Hint("check", (&checkCmd{}).Run(&g, d)), d.Stderr), true
	case len(args) > 2 && args[0] == "run" && args[1] == "--":
		var c runCmd
		if !fromEnv(&c) {
			return 0, false
		}
		c.Command = args[1:]
		return exitCode(offEC2Hint("run", c.Run(&g, d)), d.Stderr), true
	}
	return 0, false
}

// fromEnv fills the flag fields of the struct cmd points to as kong would
// with no flags given: from each field's env variable, else its default. It
// reports false when a value does not parse or is not among its enum.
func fromEnv(cmd any) bool {
	v := reflect.ValueOf(cmd).Elem()
	for i := range v.NumField() {
		f, tag := v.Field(i), v.Type().Field(i).Tag
		if _, isArg := tag.Lookup("arg"); isArg {
			continue
		}
		if f.Kind() == reflect.Struct {
			if v.Type().Field(i).Anonymous && !fromEnv(f.Addr().Interface()) {
				return false // embedded flags (run's ledger flags) are flags too
			}
			continue // a nested struct: not a flag
		}
		s, set := os.LookupEnv(tag.Get("env"))
		if !set {
			s = strings.ReplaceAll(tag.Get("default"), "${marker}", legacyMarker)
		}
		if enum, ok := tag.Lookup("enum"); ok && !slices.Contains(strings.Split(enum, ","), s) {
			return false
		}
		switch p := f.Addr().Interface().(type) {
		case *string:
			*p = s
		case *[]string:
			*p = nil
			if s != "" {
				*p = strings.Split(s, ",")
			}
		case *time.Duration:
			d, err := time.ParseDuration(s)
			if err != nil && s != "" {
				return false
			}
			*p = d
		case *bool:
			b, err := strconv.ParseBool(s)
			if err != nil && s != "" {
				return false
			}
			*p = b
		case *int:
			n, err := strconv.Atoi(s)
			if err != nil && s != "" {
				return false
			}
			*p = n
		default:
			return false
		}
	}
	return true
}
