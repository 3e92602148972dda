package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTryLockSeesAnotherHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if held, err := TryLock(a); held || err != nil {
		t.Fatalf("first TryLock: held=%v err=%v, want the lock", held, err)
	}
	b, err := Open(path) // a second open file description: flock sees a second holder
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if held, err := TryLock(b); !held || err != nil {
		t.Fatalf("second TryLock: held=%v err=%v, want held by the first", held, err)
	}
	a.Close()
	if held, err := TryLock(b); held || err != nil {
		t.Fatalf("TryLock after the holder closed: held=%v err=%v, want the lock", held, err)
	}
}

func TestOpenRefusesASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "lock")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if f, err := Open(link); err == nil {
		f.Close()
		t.Fatal("Open followed a symbolic link")
	}
}

func TestLockEndsWithTheContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	a, _ := Open(path)
	defer a.Close()
	if held, err := TryLock(a); held || err != nil {
		t.Fatal(held, err)
	}
	b, _ := Open(path)
	defer b.Close()
	cause := errors.New("gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- Lock(ctx, nil, b) }()
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Errorf("Lock = %v, want it to wrap the context's cause", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Lock did not return after its context ended")
	}
}
