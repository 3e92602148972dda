// Command baseline does nothing but start: a Go binary that links the AWS
// SDK's config package, which scripts/bench.sh times beside leadergate's
// cached check to show what any such binary pays before main runs.
package main

import _ "github.com/aws/aws-sdk-go-v2/config"

func main() {}
