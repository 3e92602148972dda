// Package proctest holds what tests of processes share: a buffer that a
// process's output copier and the test read at once, and whether a pid
// still runs. Only tests and test rigs import it; the layout test keeps it
// out of the release binary.
package proctest

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Buffer is a bytes.Buffer safe for one writer and readers at once (an
// exec.Cmd's output copier and the test).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Alive reports whether pid is a live process: neither gone nor a zombie
// (an orphan's zombie may wait long for an init that does not reap).
func Alive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) == 0 || (f[0] != "Z" && f[0] != "X")
}
