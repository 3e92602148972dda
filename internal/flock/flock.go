// Package flock takes the advisory file locks leadergate uses: the state
// dir's election lock and run --no-overlap's per-command lock. They are
// flock(2) locks: the kernel drops one when the last descriptor holding it
// closes, so a crashed process never leaves a lock behind, and an exec'd
// command that inherits the descriptor keeps holding it.
package flock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/leadergate/leadergate/internal/clock"
)

// Open opens the lock file at path, creating it with mode 0600. It refuses a
// symbolic link (O_NOFOLLOW): nobody who can write the directory's parent
// chain can point the lock at another file. The descriptor is close-on-exec.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("open lock %s: it is a symbolic link: %w", path, err)
	}
	return f, err
}

// TryLock takes f's exclusive lock without waiting. held reports that
// another descriptor (another process) holds it.
func TryLock(f *os.File) (held bool, err error) {
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		return true, nil
	}
	return false, fmt.Errorf("lock %s: %w", f.Name(), err)
}

// Lock waits for f's exclusive lock until ctx is done, trying again on c
// after 1 ms, doubling up to 20 ms. When ctx ends first it returns an error
// wrapping context.Cause(ctx).
func Lock(ctx context.Context, c clock.Clock, f *os.File) error {
	c = clock.Or(c)
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		held, err := TryLock(f)
		if err != nil || !held {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for lock %s: %w", f.Name(), context.Cause(ctx))
		case <-c.After(wait):
		}
	}
}
