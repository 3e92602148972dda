package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/leadergate/leadergate/ledger"
)

// writeHistoryHTML writes history's page to file ("-": stdout). The page is
// made in memory and the file replaced in one rename, so that a failure
// leaves the old file (or none), never half a page.
func (c *historyCmd) writeHistoryHTML(d *Deps, group string, recs []ledger.Record, now time.Time) error {
	var b bytes.Buffer
	if err := drawTimeline(&b, group, recs, now, c.Since); err != nil {
		return err
	}
	if c.HTML == "-" {
		_, err := d.Stdout.Write(b.Bytes())
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.HTML), "."+filepath.Base(c.HTML)+".*")
	if err != nil {
		return configError{fmt.Errorf("history: --html %s: %w", c.HTML, err)}
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is there
	_, err = tmp.Write(b.Bytes())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644) // a report to share, like a file the shell would make
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.HTML)
	}
	if err != nil {
		return fmt.Errorf("history: --html %s: %w", c.HTML, err)
	}
	return nil
}
