package elect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Marker is the legacy marker file: present on the leader only, so that
// crontab lines written as `test -e FILE && CMD` keep working.
type Marker struct {
	Path string
	// Optional makes a missing parent directory mean "no marker here"
	// instead of an error: the default path exists only where the legacy
	// setup or our .ebextensions created it.
	Optional bool
}

// Set makes the marker present (leader) or absent (follower). Creating it
// is atomic; removing an absent marker is not an error. A failure is a
// configuration error: a follower that cannot remove its marker would let
// legacy `test -e` lines run on two instances.
func (m Marker) Set(leader bool, content string) error {
	if m.Path == "" {
		return nil
	}
	dir := filepath.Dir(m.Path)
	if fi, err := os.Lstat(m.Path); err == nil && fi.IsDir() {
		// Neither removing nor replacing it would work, and "make the
		// directory writable" would be the wrong fix.
		return configErr(fmt.Errorf("marker %s is a directory, not a file", m.Path),
			fmt.Sprintf("remove that directory or point --marker at a file path, e.g. --marker=%s", filepath.Join(m.Path, "leader-manager-is-leader")))
	}
	if m.Optional {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if !leader {
		if err := os.Remove(m.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return configErr(opError("remove marker", m.Path, err), fmt.Sprintf("make %s writable by this user or set --marker= to keep no marker", dir))
		}
		return nil
	}
	// A regular file already there is the marker: leave it, so steady
	// state writes nothing. Anything else (a symlink, a file others can
	// write, say left by the legacy script) is replaced.
	if fi, err := os.Lstat(m.Path); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o022 == 0 {
		return nil
	}
	if err := writeAtomic(m.Path, []byte(content), 0o644); err != nil {
		return configErr(opError("write marker", m.Path, err), fmt.Sprintf("make %s writable by this user or set --marker= to keep no marker", dir))
	}
	return nil
}

// opError says that what failed on path: "remove marker /x/m: not a
// directory", not "remove marker: remove /x/m: not a directory", which says
// the operation twice. An error that is not an *fs.PathError is kept whole.
func opError(what, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// writeAtomic's temporary file is an implementation detail.
		temp := strings.HasPrefix(filepath.Base(pe.Path), "."+filepath.Base(path)+".tmp")
		if pe.Path != path && !temp {
			return fmt.Errorf("%s %s: %s: %w", what, path, pe.Path, pe.Err)
		}
		return fmt.Errorf("%s %s: %w", what, path, pe.Err)
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}
