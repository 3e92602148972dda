package schedule

import (
	"log/slog"
	"os"
)

// JobDir returns the directory jobs start in: dir when set, else the path
// of the scheduler's working directory ($PWD when it names that directory,
// as os.Getwd does, so a symlinked path stays a path). Jobs are started in
// it by name, never through a directory the scheduler holds open: a
// process that keeps its working directory across a deploy holds the old,
// deleted one, and its jobs would fail there (getcwd errors, "not found")
// or run the old code. When even that path cannot be read (the scheduler
// was started in a deleted directory), it warns and returns "": jobs
// inherit the scheduler's directory.
func JobDir(dir string, log *slog.Logger) string {
	if dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		if log != nil {
			log.Warn("jobs start in the scheduler's own working directory, which has no path: set the job directory", "err", err)
		}
		return ""
	}
	return wd
}
