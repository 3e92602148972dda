package ledger

import (
	"errors"
	"strings"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// Ledger errors carry exitcode.TempFail (the ledger could not be reached
// now: throttled, 5xx, timed out) or exitcode.Config (retrying will not
// help: no table, wrong schema, AccessDenied), as the election's do.

// Error is a ledger failure that knows its exit code and, where known, the
// fix: the same type as the election's errors rather than a second copy.
type Error = elect.Error

func tempFail(err error, fix string) error {
	return &Error{Code: exitcode.TempFail, Err: err, Fix: fix}
}
func configErr(err error, fix string) error { return &Error{Code: exitcode.Config, Err: err, Fix: fix} }

// CheckTable reports a table name real DynamoDB would reject (moto accepts
// more): 3 to 255 of letters, digits, '_', '-' and '.'.
func CheckTable(name string) error {
	if len(name) < 3 || len(name) > 255 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
		return configErr(errors.New("ledger: table name "+quote(name)+" is not a DynamoDB table name"),
			"use 3 to 255 letters, digits, '_', '-' or '.', e.g. --ledger leadergate-ledger")
	}
	return nil
}

func quote(s string) string { return "\"" + strings.ReplaceAll(s, "\"", "\\\"") + "\"" }

func flatten(s string) string { return strings.Join(strings.Fields(s), " ") }
