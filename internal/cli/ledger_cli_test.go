package cli

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
	"github.com/leadergate/leadergate/internal/motoserver"
)

// ledgerFixture adds to the EC2 fixture a moto_server DynamoDB behind a
// fault-injecting proxy (AWS_ENDPOINT_URL_DYNAMODB), one per script.
type ledgerFixture struct {
	proxy *faultproxy.Proxy
	url   string
}

type ledgerFixtureKey struct{}

// TestLedgerScripts runs testdata/ledger/*.txtar: ledger create, run
// --ledger and history through the binary, against moto_server's DynamoDB.
func TestLedgerScripts(t *testing.T) {
	probe, err := motoserver.Start(context.Background())
	if motoserver.Skip(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	testscript.Run(t, testscript.Params{
		Dir:       "testdata/ledger",
		Condition: condChromium,
		Setup: func(env *testscript.Env) error {
			if err := setupFixture(env); err != nil {
				return err
			}
			m, err := motoserver.Start(context.Background())
			if err != nil {
				return err
			}
			env.Defer(m.Close)
			p := faultproxy.New(m.URL)
			env.Defer(p.Close)
			env.Values[ledgerFixtureKey{}] = &ledgerFixture{proxy: p, url: m.URL}
			env.Setenv("AWS_ENDPOINT_URL_DYNAMODB", p.URL())
			env.Setenv("AWS_ENDPOINT_URL_STS", p.URL()) // the caller's identity, for controls (counted by dcalls)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"code":     cmdCode,
			"fault":    cmdFault,
			"dfault":   cmdDynamoFault,
			"dforeign": cmdForeignTable,
			"dcalls":   cmdDynamoCalls,
			"waitfile": cmdWaitFile,
			"browse":   cmdBrowse,
		},
	})
}

// dfault throttle|throttling|500|hang|denied|clear injects a fault into every
// DynamoDB call.
func cmdDynamoFault(ts *testscript.TestScript, neg bool, args []string) {
	f := ts.Value(ledgerFixtureKey{}).(*ledgerFixture)
	if len(args) != 1 {
		ts.Fatalf("usage: dfault throttle|throttling|500|hang|denied|clear")
	}
	f.proxy.ClearFaults()
	switch args[0] {
	case "clear":
	case "throttle":
		f.proxy.Inject(awsfake.Fault{Kind: awsfake.Throttle})
	case "throttling":
		f.proxy.Inject(awsfake.Fault{Kind: awsfake.Throttle, Code: "ThrottlingException"})
	case "500":
		f.proxy.Inject(awsfake.Fault{Kind: awsfake.InternalError})
	case "hang":
		f.proxy.Inject(awsfake.Fault{Kind: awsfake.Hang})
	case "denied":
		f.proxy.Inject(awsfake.Fault{Kind: awsfake.Unauthorized})
	default:
		ts.Fatalf("unknown fault %q", args[0])
	}
}

// dcalls ACTION N asserts the DynamoDB calls of ACTION since the last
// reset; dcalls reset starts counting again.
func cmdDynamoCalls(ts *testscript.TestScript, neg bool, args []string) {
	f := ts.Value(ledgerFixtureKey{}).(*ledgerFixture)
	if len(args) == 1 && args[0] == "reset" {
		f.proxy.ResetCalls()
		return
	}
	if len(args) != 2 {
		ts.Fatalf("usage: dcalls reset | dcalls ACTION N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	if got := f.proxy.Calls(args[0]); got != want {
		ts.Fatalf("%d DynamoDB %s calls, want %d", got, args[0], want)
	}
}

// waitfile FILE waits until a background command has created FILE.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	path := ts.MkAbs(args[0])
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within 30s", args[0])
		}
	}
}

// dforeign NAME creates a table with keys other than the ledger's.
func cmdForeignTable(ts *testscript.TestScript, neg bool, args []string) {
	f := ts.Value(ledgerFixtureKey{}).(*ledgerFixture)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"), config.WithBaseEndpoint(f.url),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}))
	ts.Check(err)
	_, err = dynamodb.NewFromConfig(cfg).CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(args[0]), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	ts.Check(err)
}
