package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadergate/leadergate/internal/exitcode"
)

// A scheduler checks at start what it will need of the table: each way a
// table can be wrong stops it with 78 and a line naming the fix, and a
// good table passes without a record written.
func TestMotoPreflight(t *testing.T) {
	m := startMoto(t)
	good := m.table(t, nil)
	if err := good.Preflight(context.Background()); err != nil {
		t.Fatalf("preflight of a table made by ledger create: %v", err)
	}
	if recs, err := good.Recent(context.Background(), preflightPK, "", time.Unix(0, 0), 10); err != nil || len(recs) != 0 {
		t.Errorf("preflight left records: %v, %v", recs, err)
	}
	raw := dynamodb.NewFromConfig(m.cfg)
	mk := func(name string, in *dynamodb.CreateTableInput) {
		in.TableName, in.BillingMode = aws.String(name), types.BillingModePayPerRequest
		if _, err := raw.CreateTable(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	mk("other-keys", &dynamodb.CreateTableInput{
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	noIndex := tableSpec("no-index")
	noIndex.GlobalSecondaryIndexes, noIndex.AttributeDefinitions = nil, noIndex.AttributeDefinitions[:2]
	mk("no-index", noIndex)
	for _, tc := range []struct {
		table, want string
	}{
		{"no-such-table", "create it with `leadergate ledger create --table no-such-table`"},
		{"other-keys", "made by `leadergate ledger create`"},
		{"no-index", "made by `leadergate ledger create`"},
	} {
		err := m.store(t, tc.table, nil).Preflight(context.Background())
		if exitcode.Of(err) != exitcode.Config || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("preflight of %s = %v (exit %d), want exit 78 naming %q", tc.table, err, exitcode.Of(err), tc.want)
		}
	}
}
