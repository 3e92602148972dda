//go:build !unix

package schedule

import "os"

// fileOwner is unknown off Unix: the owner check is skipped.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }
