package main

import (
	"fmt"
	"runtime"

	"github.com/leadergate/leadergate/elect"
)

type iamPolicyCmd struct {
	Protect bool `env:"LEADERGATE_PROTECT" help:"Add autoscaling:SetInstanceProtection for schedule --protect, scoped to groups carrying the first --group-tag (=--group when given)."`
}

func (c *iamPolicyCmd) Run(g *Globals, d *Deps) error {
	o := elect.IAMOptions{Protect: c.Protect, ProtectTagValue: g.Group}
	if len(g.GroupTag) > 0 {
		o.ProtectTagKey = g.GroupTag[0]
	}
	_, err := d.Stdout.Write(elect.IAMPolicyWith(o))
	return err
}

type versionCmd struct{}

func (c *versionCmd) Run(d *Deps) error {
	v, c2 := version, commit
	if v == "" {
		v = "dev"
	}
	if c2 == "" {
		c2 = "unknown"
	}
	fmt.Fprintf(d.Stdout, "leadergate %s (commit %s, %s %s/%s)\n", v, c2, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
