package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attributes of a control item (besides pk, tick, ttl and the notes).
const (
	attrKind      = "kind"
	attrAt        = "at"       // unix milliseconds
	attrUntil     = "until"    // unix milliseconds
	attrEnded     = "ended"    // unix milliseconds
	attrEndedBy   = "ended_by" //
	attrEndReason = "end_reason"
	attrTicks     = "ticks" // the ticks, TickFormat, joined by ","
	attrID        = "id"
)

var _ ControlStore = (*DynamoDB)(nil)

// groupPartition is the partition of a group's own items: its controls.
func groupPartition(group string) string { return Key{Group: group}.Partition() }

func controlItem(c Control) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		attrPK: s(groupPartition(c.Group)), attrTick: s(c.sortKey()),
		attrKind: s(string(c.Kind)), attrAt: ms(c.At),
	}
	for name, v := range map[string]string{attrJob: c.Job, attrID: c.ID, attrActor: c.Actor, attrReason: c.Reason,
		attrEndedBy: c.EndedBy, attrEndReason: c.EndReason} {
		if v != "" {
			it[name] = s(v)
		}
	}
	for name, t := range map[string]time.Time{attrUntil: c.Until, attrEnded: c.Ended} {
		if !t.IsZero() {
			it[name] = ms(t)
		}
	}
	if len(c.Ticks) > 0 {
		ts := make([]string, len(c.Ticks))
		for i, t := range c.Ticks {
			ts[i] = t.UTC().Format(TickFormat)
		}
		it[attrTicks] = s(strings.Join(ts, ","))
	}
	if !c.Expires.IsZero() {
		it[attrTTL] = n(c.Expires.Unix())
	}
	return it
}

func controlFromItem(group string, it map[string]types.AttributeValue) (Control, error) {
	r := itemFields(it)
	c := Control{
		Group: group, Kind: ControlKind(r.str(attrKind)), Job: r.str(attrJob), ID: r.str(attrID),
		At: r.at(attrAt), Actor: r.str(attrActor), Reason: r.str(attrReason),
		Until: r.at(attrUntil), Ended: r.at(attrEnded), EndedBy: r.str(attrEndedBy), EndReason: r.str(attrEndReason),
	}
	if t := r.num(attrTTL); t != 0 {
		c.Expires = time.Unix(t, 0).UTC()
	}
	if ts := r.str(attrTicks); ts != "" {
		for _, v := range strings.Split(ts, ",") {
			t, err := time.Parse(TickFormat, v)
			if err != nil {
				return Control{}, fmt.Errorf("ledger: control %q has a malformed tick: %w", r.str(attrTick), err)
			}
			c.Ticks = append(c.Ticks, t)
		}
	}
	return c, nil
}

// itemFields reads the attributes of an item.
type itemFields map[string]types.AttributeValue

func (f itemFields) str(name string) string {
	if v, ok := f[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (f itemFields) num(name string) int64 {
	if v, ok := f[name].(*types.AttributeValueMemberN); ok {
		var i int64
		fmt.Sscan(v.Value, &i)
		return i
	}
	return 0
}

func (f itemFields) at(name string) time.Time {
	if v := f.num(name); v != 0 {
		return time.UnixMilli(v).UTC()
	}
	return time.Time{}
}

// Controls implements ControlStore with one consistent Query of the
// group's partition: a control written before the Query began is in it.
func (d *DynamoDB) Controls(ctx context.Context, group string) ([]Control, error) {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(d.Table),
		ConsistentRead:           aws.Bool(true),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#tick, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#tick": attrTick},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(groupPartition(group)), ":prefix": s(controlPrefix),
		},
	}
	var out []Control
	for range maxQueryPages {
		page, err := d.api.query(ctx, in)
		if err != nil {
			return nil, d.classify(ctx, "Query", err)
		}
		for _, it := range page.Items {
			c, err := controlFromItem(group, it)
			if err != nil {
				return nil, err
			}
			if d.now != nil && !c.Expires.IsZero() && d.now().After(c.Expires) {
				continue // TTL deletion is lazy
			}
			out = append(out, c)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	return out, nil
}

// PutControl implements ControlStore with one PutItem.
func (d *DynamoDB) PutControl(ctx context.Context, c Control) error {
	_, err := d.api.putItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.Table), Item: controlItem(c)})
	if err != nil {
		return d.classify(ctx, "PutItem", err)
	}
	return nil
}

// EndPause implements ControlStore with one UpdateItem conditioned on the
// pause being there and not yet lifted.
func (d *DynamoDB) EndPause(ctx context.Context, group, job string, ended time.Time, by, reason string) (bool, error) {
	names := map[string]string{"#pk": attrPK, "#ended": attrEnded, "#by": attrEndedBy}
	values := map[string]types.AttributeValue{":ended": ms(ended), ":by": s(orUnknown(by))}
	update := "SET #ended = :ended, #by = :by"
	if reason != "" {
		names["#why"], values[":why"] = attrEndReason, s(reason)
		update += ", #why = :why"
	}
	_, err := d.api.updateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(d.Table),
		Key:                       map[string]types.AttributeValue{attrPK: s(groupPartition(group)), attrTick: s(Control{Kind: PauseControl, Job: job}.sortKey())},
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND attribute_not_exists(#ended)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var cf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &cf):
		return false, nil
	case err != nil:
		return false, d.classify(ctx, "UpdateItem", err)
	}
	return true, nil
}

// Records reads the records of keys with eventually consistent
// BatchGetItem calls (100 keys each); a key with no record is left out.
func (d *DynamoDB) Records(ctx context.Context, keys []Key) ([]Record, error) {
	items := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		items[i] = keyOf(k)
	}
	full, err := d.items(ctx, items)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(full))
	for _, it := range full {
		r, err := fromItem(it)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// runningStore lists the records of a job still recorded running.
type runningStore interface {
	Running(ctx context.Context, group, job string, since time.Time) ([]Record, error)
}

var _ runningStore = (*DynamoDB)(nil)

// Running lists the records of job at or after since that are recorded
// running, with one Query of its partition that DynamoDB filters (read
// units count the records read, not those returned: 1,440 small records
// are about 45 eventually consistent units, not one per record).
func (d *DynamoDB) Running(ctx context.Context, group, job string, since time.Time) ([]Record, error) {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(d.Table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #tick >= :since"),
		FilterExpression:         aws.String("#state = :running"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#tick": attrTick, "#state": attrState},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(Key{Group: group, Job: job}.Partition()), ":since": s(since.UTC().Format(TickFormat)), ":running": s(string(Running)),
		},
	}
	var out []Record
	for range maxQueryPages {
		page, err := d.api.query(ctx, in)
		if err != nil {
			return nil, d.classify(ctx, "Query", err)
		}
		for _, it := range page.Items {
			r, err := fromItem(it)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	return out, nil
}
