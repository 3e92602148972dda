package schedule

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A deploy replaces the jobs' directory (Elastic Beanstalk moves the staged
// application to /var/app/current and removes the old one): the next run
// starts in the new directory, by its path, and runs the new code.
func TestJobsStartInTheirDirectoryByPathAfterItIsReplaced(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "current")
	release := func(version string) {
		t.Helper()
		staging := filepath.Join(dir, "staging")
		if err := os.MkdirAll(filepath.Join(staging, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(staging, "bin", "report"), []byte("#!/bin/sh\necho report "+version+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(app); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(staging, app); err != nil {
			t.Fatal(err)
		}
	}
	release("v1")
	path := writeCrontab(t, dir, "CRON_TZ=UTC\n# name: report\n0 * * * * ./bin/report\n")
	clock := newFakeClock(t0)
	logs := newLogSink()
	startRun(t, Options{File: path, Authority: &fakeAuthority{answer: leader, t: t}, Logger: logs.logger(), Refresh: -1, Clock: clock, Dir: app})

	clock.Advance(t, at03)
	logs.wait(t, MsgJobOutput, "line", "report v1")
	logs.wait(t, "job finished", "job", "report")

	release("v2")
	clock.Advance(t, at03.Add(time.Hour))
	logs.wait(t, MsgJobOutput, "line", "report v2")
	logs.waitN(t, 2, "job finished", "job", "report")
}

func TestJobDirDefaultsToTheWorkingDirectorysPath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got := JobDir("", nil); got != wd {
		t.Errorf("JobDir(\"\") = %q, want the working directory %q", got, wd)
	}
	if got := JobDir("/srv/app", nil); got != "/srv/app" {
		t.Errorf("JobDir(\"/srv/app\") = %q, want it unchanged", got)
	}
}
