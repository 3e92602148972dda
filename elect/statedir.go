package elect

import (
	"os"
	"path/filepath"
)

// DefaultStateDir is /var/lib/leadergate for root, else
// $XDG_STATE_HOME/leadergate (~/.local/state/leadergate).
func DefaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/leadergate"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "leadergate")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "leadergate")
	}
	return filepath.Join(os.TempDir(), "leadergate-"+os.Getenv("USER"))
}
