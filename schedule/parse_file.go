package schedule

// The safety checks cron makes before it reads a crontab.

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ParseFile reads and parses the crontab at path after the safety checks
// cron makes: the file must be a regular file, not writable by group or
// others, and owned by root or by the user running leadergate. Otherwise
// the error is a *FileError (exit 78) naming the fix.
func ParseFile(path string) (*Crontab, error) { return parseFile(path, true) }

// CheckFile is ParseFile for `schedule --check`, which runs nothing: it
// does not require the file to be root's or the caller's, so that a deploy
// script running as root can validate the crontab of the user the
// scheduler will run as. The scheduler itself still checks the owner.
func CheckFile(path string) (*Crontab, error) { return parseFile(path, false) }

func parseFile(path string, checkOwner bool) (*Crontab, error) {
	// Only a regular file is opened: opening a named pipe waits for a
	// writer (--check hung, and so did a reload on SIGHUP, which then
	// ignored SIGTERM), a device may never end. The file is looked at
	// before it is opened, and opened without blocking in case it was
	// swapped for a pipe in between; what was opened is looked at again.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &FileError{File: path, Err: err,
			Msg: fmt.Sprintf("cannot read crontab: %v: check the path, or pass the file as an argument", err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &FileError{File: path, Err: err, Msg: fmt.Sprintf("cannot stat crontab: %v", err)}
	}
	if err := checkSafe(path, fi, checkOwner); err != nil {
		return nil, err
	}
	return Parse(f, path)
}

func checkSafe(path string, fi os.FileInfo, checkOwner bool) error {
	if !fi.Mode().IsRegular() {
		return notRegular(path, fi)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return &FileError{File: path, Msg: fmt.Sprintf(
			"crontab %s is writable by group or others (mode %04o), so anyone could run commands through it: run chmod go-w %s",
			path, fi.Mode().Perm(), path)}
	}
	if uid, ok := fileOwner(fi); checkOwner && ok && uid != 0 && uid != os.Geteuid() {
		return &FileError{File: path, Msg: fmt.Sprintf(
			"crontab %s is owned by uid %d, neither root nor the user running leadergate (uid %d): run chown %d %s, or run leadergate as its owner",
			path, uid, os.Geteuid(), os.Geteuid(), path)}
	}
	return nil
}

func notRegular(path string, fi os.FileInfo) error {
	return &FileError{File: path, Msg: fmt.Sprintf("crontab %s is %s, not a regular file: pass the path of a file", path, fileKind(fi.Mode()))}
}

// fileKind names what a non-regular file is, in words rather than as an
// ls-style mode string.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "a special file"
	}
}
