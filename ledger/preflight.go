package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// preflightPK is a partition no group can have (a group is an EC2 tag
// value, a job a name: neither starts with this), so the checks below
// read and condition on an item that never exists.
const preflightPK = "leadergate#preflight"

// Preflight checks at start what a scheduler will need of the table, with
// the calls the instance role has anyway (no DescribeTable): the table
// exists, its keys are leadergate's (GetItem), the group index exists
// (Query on it), and PutItem and UpdateItem are allowed (each conditioned
// on an item that does not exist, so the refusal proves the permission and
// nothing is written). A missing table, a wrong schema or a missing
// permission is a configuration error (78) naming the fix, instead of a
// scheduler that starts healthy and logs an error at every tick while
// nothing runs. Four calls, once per start.
func (d *DynamoDB) Preflight(ctx context.Context) error {
	key := map[string]types.AttributeValue{attrPK: s(preflightPK), attrTick: s("0")}
	if _, err := d.api.getItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.Table), Key: key}); err != nil {
		return d.classify(ctx, "GetItem", err)
	}
	if _, err := d.api.query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(d.Table), IndexName: aws.String(GroupIndex), Limit: aws.Int32(1),
		KeyConditionExpression:    aws.String("#g = :g"),
		ExpressionAttributeNames:  map[string]string{"#g": attrGroup},
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": s(preflightPK)},
	}); err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) || strings.Contains(err.Error(), "specified index") {
			// The table answered GetItem: what is missing is the index
			// (DynamoDB says ValidationException, moto ResourceNotFound).
			return configErr(fmt.Errorf("ledger: table %s has no index %q (a follower's look at a tick and history need it)", quote(d.Table), GroupIndex),
				"give leadergate a table made by `leadergate ledger create`")
		}
		return d.classify(ctx, "Query on index "+GroupIndex, err)
	}
	absent := aws.String("attribute_exists(#pk)")
	names := map[string]string{"#pk": attrPK}
	_, err := d.api.putItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.Table), Item: key, ConditionExpression: absent, ExpressionAttributeNames: names,
	})
	if err := refusedAsExpected(ctx, d, "PutItem", err); err != nil {
		return err
	}
	_, err = d.api.updateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(d.Table), Key: key, ConditionExpression: absent,
		UpdateExpression:          aws.String("SET #pf = :pf"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#pf": "preflight"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pf": s("1")},
	})
	return refusedAsExpected(ctx, d, "UpdateItem", err)
}

// refusedAsExpected is nil when a write conditioned on an absent item was
// refused by its condition: the caller may make that call.
func refusedAsExpected(ctx context.Context, d *DynamoDB, op string, err error) error {
	var cf *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &cf) {
		return nil
	}
	return d.classify(ctx, op, err)
}
