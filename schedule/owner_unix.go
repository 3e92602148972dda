//go:build unix

package schedule

import (
	"os"
	"syscall"
)

// fileOwner returns the uid owning fi, when the platform says.
func fileOwner(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
