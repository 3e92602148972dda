package ledger

import (
	"errors"
	"strings"
)

// Exit codes (sysexits) carried by ledger errors.
const (
	ExitTempFail = 75 // the ledger could not be reached now: throttled, 5xx, timed out
	ExitConfig   = 78 // retrying will not help: no table, wrong schema, AccessDenied
)

// Error is a ledger failure that knows its exit code and, where known, the fix.
type Error struct {
	Code int
	Err  error
	Fix  string
}

func (e *Error) Error() string {
	if e.Fix == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + "; " + e.Fix
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode implements the CLI's exit-code convention.
func (e *Error) ExitCode() int { return e.Code }

func tempFail(err error, fix string) error  { return &Error{Code: ExitTempFail, Err: err, Fix: fix} }
func configErr(err error, fix string) error { return &Error{Code: ExitConfig, Err: err, Fix: fix} }

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
