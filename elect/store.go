package elect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/flock"
)

// Store is the state directory: the last verdict, the last failure, the
// group of this instance and the lock that makes concurrent invocations on
// one instance share one election. Everything in it is written atomically
// (temp file + rename); a corrupt or truncated file reads as absent, never
// as a verdict.
type Store struct {
	Dir string
	// Clock paces Lock's waits; nil is the system clock.
	Clock clock.Clock
	// ReadOnly is for commands that only read the state (status): root
	// may then read a state dir another user owns (the service user's on
	// Elastic Beanstalk), and Ensure creates nothing. Writes and Lock fail.
	ReadOnly bool
}

const (
	verdictFile = "verdict.json"
	failureFile = "failure.json"
	groupFile   = "group.json"
	lockFile    = "lock"
	stateFormat = 1
)

// storedVerdict is the on-disk form; the format number lets a newer
// leadergate ignore what an older one wrote instead of misreading it.
type storedVerdict struct {
	Format int `json:"format"`
	Verdict
}

type storedFailure struct {
	Format  int       `json:"format"`
	At      time.Time `json:"at"`
	Code    int       `json:"code"`
	Message string    `json:"message"`
}

type storedGroup struct {
	Format   int    `json:"format"`
	Instance string `json:"instance"`
	Key      string `json:"key"`
	Value    string `json:"value"`
}

// Check verifies that the state directory can be trusted: a verdict planted
// by another user would make a follower run jobs. It must be owned by this
// user (or root) and not writable by group or others.
func (s *Store) Check() error {
	fi, err := os.Lstat(s.Dir)
	if err != nil {
		return err
	}
	return checkDir(s.Dir, fi, s.ReadOnly)
}

func checkDir(dir string, fi fs.FileInfo, readOnly bool) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		// Not followed: whoever controls the link would control the verdict.
		return configErr(fmt.Errorf("state dir %s is a symbolic link", dir), "set --state-dir to the directory itself")
	case !fi.IsDir():
		return configErr(fmt.Errorf("state dir %s is not a directory", dir), "remove it or set --state-dir")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := uint32(os.Geteuid()); st.Uid != uid && st.Uid != 0 && !(readOnly && uid == 0) {
			if uid == 0 {
				// Root in the service user's state dir (sudo leadergate
				// status): chown would break the service, and writing
				// root-owned files there would too.
				owner := fmt.Sprint(st.Uid)
				if u, err := user.LookupId(owner); err == nil {
					owner = u.Username
				}
				return configErr(fmt.Errorf("state dir %s is owned by uid %d (%s), not root", dir, st.Uid, owner),
					fmt.Sprintf("run it as that user (sudo -u %s leadergate ...), or as root with --state-dir set to a directory of root's own; do not chown it, the service needs it", owner))
			}
			return configErr(fmt.Errorf("state dir %s is owned by uid %d, not by this user (uid %d)", dir, st.Uid, uid),
				"chown it or set --state-dir to a directory of your own")
		}
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return configErr(fmt.Errorf("state dir %s is writable by group or others (mode %04o)", dir, fi.Mode().Perm()),
			fmt.Sprintf("chmod go-w %s", dir))
	}
	return nil
}

// Ensure creates the state directory (0700) if needed and checks it.
func (s *Store) Ensure() error {
	if s.ReadOnly {
		// Nothing to read is no error: there is no verdict yet.
		if _, err := os.Lstat(s.Dir); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return s.Check()
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return configErr(opError("create state dir", s.Dir, err), "set --state-dir (LEADERGATE_STATE_DIR) to a writable directory")
	}
	return s.Check()
}

// Load returns the last stored verdict. ok is false when there is none or it
// cannot be read whole; the state dir is checked first.
func (s *Store) Load() (v Verdict, ok bool) {
	var sv storedVerdict
	if !s.read(verdictFile, &sv) || sv.Format != stateFormat || sv.Self == "" || sv.At.IsZero() {
		return Verdict{}, false
	}
	return sv.Verdict, true
}

// Save stores v as the last verdict.
func (s *Store) Save(v Verdict) error {
	return s.write(verdictFile, storedVerdict{Format: stateFormat, Verdict: v})
}

// lastFailure returns the last recorded election failure.
func (s *Store) lastFailure() (storedFailure, bool) {
	var f storedFailure
	// Its code becomes this process's exit code: anything but "cannot tell"
	// or "configuration error" (a 0 would read as "leader") is not ours.
	ok := s.read(failureFile, &f) && f.Format == stateFormat && !f.At.IsZero() &&
		(f.Code == exitcode.TempFail || f.Code == exitcode.Config) && !strings.ContainsAny(f.Message, "\r\n")
	return f, ok
}

func (s *Store) saveFailure(at time.Time, err error) error {
	return s.write(failureFile, storedFailure{Format: stateFormat, At: at, Code: CannotTell(err), Message: err.Error()})
}

func (s *Store) clearFailure() {
	_ = os.Remove(filepath.Join(s.Dir, failureFile))
}

// group returns the cached group of instance id.
func (s *Store) group(id string) (key, value string, ok bool) {
	var g storedGroup
	if !s.read(groupFile, &g) || g.Format != stateFormat || g.Instance != id || g.Key == "" || g.Value == "" {
		return "", "", false
	}
	return g.Key, g.Value, true
}

func (s *Store) saveGroup(id, key, value string) error {
	return s.write(groupFile, storedGroup{Format: stateFormat, Instance: id, Key: key, Value: value})
}

// maxStateFile bounds what read accepts: every file Store writes is a few
// hundred bytes.
const maxStateFile = 64 << 10

// read decodes a state file. Only a regular file of this user (or root) that
// no one else can write is state: a symlink planted in its place is not
// followed, and a fifo or a device neither blocks nor floods the reader.
func (s *Store) read(name string, v any) bool {
	if s.Check() != nil {
		return false
	}
	// Raw system calls, not os.File: this is the whole work of a cached
	// `check`, and an os.File opened non-blocking would first set up the
	// runtime's poller. O_NONBLOCK keeps a planted FIFO from blocking us.
	fd, err := syscall.Open(filepath.Join(s.Dir, name), syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size > maxStateFile ||
		st.Mode&0o022 != 0 || (st.Uid != uint32(os.Geteuid()) && st.Uid != 0 && !s.rootReading()) {
		return false
	}
	b := make([]byte, maxStateFile+1)
	n := 0
	for n < len(b) {
		m, err := syscall.Read(fd, b[n:])
		if err != nil {
			return false
		}
		if m == 0 {
			break
		}
		n += m
	}
	if n > maxStateFile {
		return false
	}
	b = b[:n]
	return json.Unmarshal(b, v) == nil
}

// rootReading is root reading another user's state dir (ReadOnly): the
// dir passed checkDir, so only its owner or root could have put files in it.
func (s *Store) rootReading() bool { return s.ReadOnly && os.Geteuid() == 0 }

// errReadOnly is what a write or a lock of a ReadOnly store returns.
func (s *Store) errReadOnly() error {
	return configErr(fmt.Errorf("state dir %s is open read-only here", s.Dir), "run a command that writes state as the state dir's owner")
}

func (s *Store) write(name string, v any) error {
	if s.ReadOnly {
		return s.errReadOnly()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(s.Dir, name), append(b, '\n'), 0o600); err != nil {
		return configErr(fmt.Errorf("write state: %w", err), "check that the state dir is writable and the disk not full")
	}
	return nil
}

// Lock takes the state dir's exclusive lock, waiting until ctx is done. The
// lock is an flock: the kernel drops it if the process dies.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	if s.ReadOnly {
		return nil, s.errReadOnly()
	}
	f, err := flock.Open(filepath.Join(s.Dir, lockFile))
	if err != nil {
		return nil, configErr(fmt.Errorf("open lock: %w", err), "check the state dir's permissions")
	}
	if err := flock.Lock(ctx, s.Clock, f); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, tempFail(fmt.Errorf("wait for another leadergate's election on this instance: %w", context.Cause(ctx)), "retry later or raise --timeout")
		}
		return nil, configErr(err, "check the state dir's file system supports flock")
	}
	return func() { f.Close() }, nil
}

// writeAtomic writes data to path through a new temp file in the same
// directory and a rename: readers see the old or the new file, never half of
// one, and a symlink planted at path is replaced, not followed.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
