package schedule

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// mkfifo makes a named pipe and, so that code that opens it for reading
// (and so waits for a writer: it hung without one) does not hang the
// test, a writer that writes a good crontab to each reader, and says
// whether one came; the cleanup stops it.
func mkfifo(t *testing.T, path string) (opened *atomic.Bool) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	opened = new(atomic.Bool)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			w, err := os.OpenFile(path, os.O_WRONLY, 0) // waits for a reader
			if err != nil {
				return
			}
			select {
			case <-stop:
				w.Close()
				return
			default:
			}
			opened.Store(true)
			w.WriteString("@daily echo from the pipe\n")
			w.Close()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // lets the writer's open return
		if err != nil {
			t.Error(err)
			return
		}
		<-done
		r.Close()
	})
	return opened
}

func TestParseFileRefusesAPipeWithoutWaitingForAWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leader-jobs.cron")
	opened := mkfifo(t, path)
	for name, parse := range map[string]func(string) (*Crontab, error){"ParseFile": ParseFile, "CheckFile": CheckFile} {
		_, err := parse(path)
		var fe *FileError
		if !errors.As(err, &fe) || fe.ExitCode() != 78 ||
			err.Error() != "crontab "+path+" is a named pipe, not a regular file: pass the path of a file" {
			t.Errorf("%s: got %v, want a *FileError (78) saying it is a named pipe", name, err)
		}
		if opened.Load() {
			t.Fatalf("%s opened the pipe: without a writer it waits forever", name)
		}
	}
}

func TestParseFileRefusesADevice(t *testing.T) {
	_, err := CheckFile(os.DevNull)
	if err == nil || !strings.Contains(err.Error(), "is a device, not a regular file") {
		t.Errorf("got %v", err)
	}
}
