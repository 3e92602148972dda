package cli

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/ledger"
)

type iamPolicyCmd struct {
	Protect  bool `env:"LEADERGATE_PROTECT" help:"Add autoscaling:SetInstanceProtection for schedule --protect, scoped to groups carrying the first --group-tag (=--group when given)."`
	Operator bool `env:"LEADERGATE_OPERATOR" help:"Print instead what an operator's role needs for pause, resume, trigger, skip, backfill, rerun and history on --ledger."`
}

func (c *iamPolicyCmd) Run(g *Globals, d *Deps) error {
	if g.Ledger != "" {
		if err := ledger.CheckTable(g.Ledger); err != nil {
			return err
		}
	}
	if c.Operator {
		if g.Ledger == "" {
			return usageError{errors.New("iam-policy: --operator needs --ledger TABLE (or LEADERGATE_LEDGER)")}
		}
		_, err := d.Stdout.Write(elect.OperatorPolicy(g.Ledger))
		return err
	}
	o := elect.IAMOptions{Protect: c.Protect, ProtectTagValue: g.Group, Ledger: g.Ledger}
	if len(g.GroupTag) > 0 {
		o.ProtectTagKey = g.GroupTag[0]
	}
	_, err := d.Stdout.Write(elect.IAMPolicyWith(o))
	return err
}

type versionCmd struct{}

func (c *versionCmd) Run(d *Deps) error {
	v, c2 := d.Version, d.Commit
	if v == "" {
		v = "dev"
	}
	if c2 == "" {
		c2 = "unknown"
	}
	fmt.Fprintln(d.Stdout, versionLine(v, c2, withMetrics))
	return nil
}

// versionLine names the commit only when the version does not already:
// git describe --always gives the bare commit when there is no tag, and
// v1.2.3-4-gabc1234 after one. It ends with the build, metrics or not,
// since the release has both.
func versionLine(v, commit string, metrics bool) string {
	build := "no metrics"
	if metrics {
		build = "metrics"
	}
	if strings.Contains(v, commit) {
		return fmt.Sprintf("leadergate %s (%s %s/%s, %s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, build)
	}
	return fmt.Sprintf("leadergate %s (commit %s, %s %s/%s, %s)", v, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH, build)
}
