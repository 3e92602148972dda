// Command baseline is the floor leadergate's cached check and run are
// measured against (make bench): a Go binary that links the AWS SDK's config
// package, the EC2 client (holding DescribeInstances and CreateTags as method
// values, as elect/aws.go does) and the IMDS client, and exits. Every Go
// program linking them pays their package initialisation before main runs;
// what leadergate costs on top of that is its own.
//
// "baseline -- CMD ARGS..." execs CMD in place, as leadergate run does on a
// cached verdict, so that run is compared with the same floor plus the
// same exec, not with a floor that starts nothing.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "--" {
		path, err := exec.LookPath(os.Args[2])
		if err == nil {
			err = syscall.Exec(path, os.Args[2:], os.Environ())
		}
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(127)
	}
	// Never true: the clients are linked, as in leadergate, but not used.
	if len(os.Args) > 1<<20 {
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			panic(err)
		}
		c := ec2.NewFromConfig(cfg)
		describe, tag := c.DescribeInstances, c.CreateTags
		_, _ = describe(context.Background(), nil)
		_, _ = tag(context.Background(), nil)
		_, _ = imds.NewFromConfig(cfg).GetInstanceIdentityDocument(context.Background(), nil)
	}
}
