package ledger

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is an in-memory Store with DynamoDB's conditional semantics, for
// tests: Create fails when the key exists, Swap when owner, fence or state
// moved, and a refused write returns the item as ALL_OLD would. Err, when
// set, is asked before every call and fails it (to inject faults). It
// counts calls.
type Memory struct {
	// Now filters Recent as DynamoDB readers must: TTL deletion is lazy, so
	// an expired item may still be there. Nil keeps everything.
	Now func() time.Time
	// Err, when not nil, is called before every operation with its name
	// (Get, Create, Swap, Recent); a non-nil result fails the call.
	Err func(op string) error
	// HideHolder makes refused writes return no item, as some
	// DynamoDB-compatible servers do.
	HideHolder bool

	mu       sync.Mutex
	items    map[string]Record
	calls    map[string]int
	controls map[string]Control // by group + "\x00" + sort key
}

var _ Store = (*Memory)(nil)

func memKey(k Key) string { return k.Partition() + "\x00" + k.TickString() }

func (m *Memory) enter(op string) error {
	m.mu.Lock()
	if m.calls == nil {
		m.calls = map[string]int{}
		m.items = map[string]Record{}
		m.controls = map[string]Control{}
	}
	m.calls[op]++
	f := m.Err
	m.mu.Unlock()
	if f != nil {
		return f(op)
	}
	return nil
}

// Calls returns how many times op was called.
func (m *Memory) Calls(op string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[op]
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, k Key) (Record, bool, error) {
	if err := m.enter("Get"); err != nil {
		return Record{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.items[memKey(k)]
	return r, ok, nil
}

func (m *Memory) conflict(k Key, r Record, found bool) error {
	c := &Conflict{Key: k}
	if found && !m.HideHolder {
		c.Holder = &r
	}
	return c
}

// Create implements Store.
func (m *Memory) Create(ctx context.Context, r Record) error {
	if err := m.enter("Create"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.items[memKey(r.Key)]; ok {
		return m.conflict(r.Key, old, true)
	}
	m.items[memKey(r.Key)] = r
	return nil
}

// Swap implements Store.
func (m *Memory) Swap(ctx context.Context, prev, r Record) error {
	if err := m.enter("Swap"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.items[memKey(r.Key)]
	if !ok || old.Owner != prev.Owner || old.Fence != prev.Fence || old.State != prev.State {
		return m.conflict(r.Key, old, ok)
	}
	m.items[memKey(r.Key)] = r
	return nil
}

// Recent implements Store.
func (m *Memory) Recent(ctx context.Context, group, job string, since time.Time, limit int) ([]Record, error) {
	if err := m.enter("Recent"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.items {
		if r.Group != group || job != "" && r.Job != job || r.Tick.Before(since) {
			continue
		}
		if m.Now != nil && !r.Expires.IsZero() && m.Now().After(r.Expires) {
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int {
		if c := strings.Compare(b.TickString(), a.TickString()); c != 0 {
			return c
		}
		return strings.Compare(a.Job, b.Job)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

var _ ControlStore = (*Memory)(nil)

// Controls implements ControlStore.
func (m *Memory) Controls(ctx context.Context, group string) ([]Control, error) {
	if err := m.enter("Controls"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Control
	for _, c := range m.controls {
		if c.Group == group && (m.Now == nil || c.Expires.IsZero() || !m.Now().After(c.Expires)) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Control) int { return strings.Compare(a.sortKey(), b.sortKey()) })
	return out, nil
}

// PutControl implements ControlStore.
func (m *Memory) PutControl(ctx context.Context, c Control) error {
	if err := m.enter("PutControl"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.controls[c.Group+"\x00"+c.sortKey()] = c
	return nil
}

// EndPause implements ControlStore.
func (m *Memory) EndPause(ctx context.Context, group, job string, ended time.Time, by, reason string) (bool, error) {
	if err := m.enter("EndPause"); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := group + "\x00" + Control{Kind: PauseControl, Job: job}.sortKey()
	c, ok := m.controls[k]
	if !ok || !c.Ended.IsZero() {
		return false, nil
	}
	c.Ended, c.EndedBy, c.EndReason = ended, orUnknown(by), reason
	m.controls[k] = c
	return true, nil
}

// TakenAt implements ControlStore.
func (m *Memory) TakenAt(ctx context.Context, group string, tick time.Time) (map[string]bool, error) {
	if err := m.enter("TakenAt"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	taken := map[string]bool{}
	at := Key{Tick: tick}.TickString()
	for _, r := range m.items {
		if r.Group == group && r.TickString() == at {
			taken[r.Job] = true
		}
	}
	return taken, nil
}

// Records implements the followers' batched read.
func (m *Memory) Records(ctx context.Context, keys []Key) ([]Record, error) {
	if err := m.enter("Records"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, k := range keys {
		if r, ok := m.items[memKey(k)]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// Running lists job's records recorded running at or after since.
func (m *Memory) Running(ctx context.Context, group, job string, since time.Time) ([]Record, error) {
	if err := m.enter("Running"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.items {
		if r.Group == group && r.Job == job && r.State == Running && !r.Tick.Before(since) {
			out = append(out, r)
		}
	}
	return out, nil
}
