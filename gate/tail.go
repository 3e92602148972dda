package gate

import "sync"

// MaxTail is the most output a run keeps for its hooks, pings and history
// (healthchecks.io accepts 10 KB of ping body; the ledger keeps less).
const MaxTail = 10 << 10

// TailBuffer keeps the last MaxTail bytes written to it; safe for
// concurrent writers (the stdout and stderr copies write from two
// goroutines).
type TailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - MaxTail; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// Bytes is a copy of what is kept.
func (t *TailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

// TailKeeper is a Held that keeps the end of a failed run's output in the
// ledger, for history: the runner gives it the run's tail just before
// finish.
type TailKeeper interface {
	SetTail(out []byte)
}
