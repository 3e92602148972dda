package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Attribute names of an item. Expressions always name them through
// #placeholders: owner, state and ttl are DynamoDB reserved words, and
// naming every attribute that way keeps the rule in one place.
const (
	attrPK       = "pk"   // partition key: group#job
	attrTick     = "tick" // sort key: the tick, TickFormat
	attrGroup    = "grp"
	attrJob      = "job"
	attrOwner    = "owner"
	attrState    = "state"
	attrFence    = "fence"
	attrAttempt  = "attempt"
	attrLease    = "lease_until" // unix milliseconds
	attrExit     = "exit_code"
	attrStarted  = "started"  // unix milliseconds
	attrFinished = "finished" // unix milliseconds, absent until finished
	attrTTL      = "ttl"      // unix seconds: DynamoDB's TTL attribute
	attrReason   = "reason"   // why skipped or missed, why a control
	attrActor    = "actor"    // who gave a control (a caller ARN)
	attrAction   = "action"   // which control
	attrDetail   = "detail"   // its arguments
	attrRequest  = "req"      // the request a rerun or backfill run answers
	attrTail     = "tail"     // a failed run's last output
	attrToken    = "token"    // random per claim: who wrote it, for a retry whose answer was lost
	// GroupIndex is the global secondary index that lists a group's runs,
	// all jobs, by tick: history without --job is one Query too, and a
	// follower reads which jobs of a tick are taken with one Query. It
	// projects the keys only: an index item then changes only when a
	// record is created, so a tick's finish (and every lease renewal)
	// writes the table alone, 1 write unit instead of 2.
	GroupIndex = "by-group"
)

// DefaultTable is the table name when none is given to `ledger create`.
const DefaultTable = "leadergate-ledger"

// dynamoAPI holds the only DynamoDB calls leadergate makes, as method
// values: a *dynamodb.Client reaching an interface would make the linker
// keep all its methods (see elect's ec2API).
type dynamoAPI struct {
	getItem            func(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	putItem            func(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	updateItem         func(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	query              func(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	batchGetItem       func(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	createTable        func(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	describeTable      func(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	updateTimeToLive   func(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	describeTimeToLive func(context.Context, *dynamodb.DescribeTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
}

// DynamoDB is the production Store: one item per run in a DynamoDB table.
// The SDK's own settings apply (AWS_ENDPOINT_URL_DYNAMODB points it at a
// local server).
type DynamoDB struct {
	Table string
	api   dynamoAPI
	now   func() time.Time
}

var _ Store = (*DynamoDB)(nil)

// NewDynamoDB returns the Store on table, with the SDK configuration cfg.
// now filters out items whose TTL has passed (DynamoDB deletes them lazily).
func NewDynamoDB(cfg aws.Config, table string, now func() time.Time) (*DynamoDB, error) {
	if err := CheckTable(table); err != nil {
		return nil, err
	}
	c := dynamodb.NewFromConfig(cfg)
	return &DynamoDB{Table: table, now: now, api: dynamoAPI{
		getItem: c.GetItem, putItem: c.PutItem, updateItem: c.UpdateItem, query: c.Query, batchGetItem: c.BatchGetItem,
		createTable: c.CreateTable, describeTable: c.DescribeTable,
		updateTimeToLive: c.UpdateTimeToLive, describeTimeToLive: c.DescribeTimeToLive,
	}}, nil
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func ms(t time.Time) types.AttributeValue {
	return n(t.UnixMilli())
}

func keyOf(k Key) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(k.Partition()), attrTick: s(k.TickString())}
}

func toItem(r Record) map[string]types.AttributeValue {
	it := keyOf(r.Key)
	it[attrGroup], it[attrJob] = s(r.Group), s(r.Job)
	it[attrOwner], it[attrState] = s(r.Owner), s(string(r.State))
	it[attrFence], it[attrAttempt] = n(r.Fence), n(int64(r.Attempt))
	it[attrLease], it[attrExit], it[attrStarted] = ms(r.LeaseUntil), n(int64(r.ExitCode)), ms(r.Started)
	if !r.Finished.IsZero() {
		it[attrFinished] = ms(r.Finished)
	}
	if !r.Expires.IsZero() {
		it[attrTTL] = n(r.Expires.Unix())
	}
	for name, v := range r.notes() {
		it[name] = s(v)
	}
	if r.Token != "" {
		it[attrToken] = s(r.Token)
	}
	return it
}

// notes are a record's optional text attributes, present only when set so
// that an ordinary tick's item stays as small as before.
func (r Record) notes() map[string]string {
	m := map[string]string{}
	for name, v := range map[string]string{attrReason: r.Reason, attrActor: r.Actor, attrAction: r.Action, attrDetail: r.Detail, attrRequest: r.Request, attrTail: r.Tail} {
		if v != "" {
			m[name] = v
		}
	}
	return m
}

func fromItem(it map[string]types.AttributeValue) (Record, error) {
	var r Record
	str := func(name string) string {
		if v, ok := it[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	num := func(name string) int64 {
		if v, ok := it[name].(*types.AttributeValueMemberN); ok {
			i, _ := strconv.ParseInt(v.Value, 10, 64)
			return i
		}
		return 0
	}
	at := func(name string) time.Time {
		if v := num(name); v != 0 {
			return time.UnixMilli(v).UTC()
		}
		return time.Time{}
	}
	tick, ref, err := parseSortKey(str(attrTick))
	if err != nil {
		return r, fmt.Errorf("ledger: item %q has a malformed tick: %w", str(attrPK), err)
	}
	r.Key = Key{Group: str(attrGroup), Job: str(attrJob), Tick: tick, Ref: ref}
	r.Reason, r.Actor, r.Action, r.Detail, r.Request = str(attrReason), str(attrActor), str(attrAction), str(attrDetail), str(attrRequest)
	r.Tail = str(attrTail)
	r.Owner, r.State = str(attrOwner), State(str(attrState))
	r.Fence, r.Attempt = num(attrFence), int(num(attrAttempt))
	r.LeaseUntil, r.ExitCode, r.Started, r.Finished = at(attrLease), int(num(attrExit)), at(attrStarted), at(attrFinished)
	if t := num(attrTTL); t != 0 {
		r.Expires = time.Unix(t, 0).UTC()
	}
	r.Token = str(attrToken)
	return r, nil
}

// Get implements Store with one consistent GetItem.
func (d *DynamoDB) Get(ctx context.Context, k Key) (Record, bool, error) {
	out, err := d.api.getItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.Table), Key: keyOf(k), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Record{}, false, d.classify(ctx, "GetItem", err)
	}
	if len(out.Item) == 0 {
		return Record{}, false, nil
	}
	r, err := fromItem(out.Item)
	return r, err == nil, err
}

// Create implements Store with one PutItem conditioned on the key being
// absent. The refusal asks for the item (ALL_OLD) for the log line only.
func (d *DynamoDB) Create(ctx context.Context, r Record) error {
	_, err := d.api.putItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(d.Table),
		Item:                                toItem(r),
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return d.writeErr(ctx, "PutItem", r.Key, err)
}

// Swap implements Store with one UpdateItem conditioned on owner, fence
// and state.
func (d *DynamoDB) Swap(ctx context.Context, prev, r Record) error {
	set := []string{"#owner = :owner", "#state = :state", "#fence = :fence", "#attempt = :attempt",
		"#lease = :lease", "#exit = :exit", "#started = :started", "#ttl = :ttl"}
	names := map[string]string{
		"#owner": attrOwner, "#state": attrState, "#fence": attrFence, "#attempt": attrAttempt,
		"#lease": attrLease, "#exit": attrExit, "#started": attrStarted, "#ttl": attrTTL, "#finished": attrFinished,
		"#token": attrToken,
	}
	it := toItem(r)
	values := map[string]types.AttributeValue{
		":owner": it[attrOwner], ":state": it[attrState], ":fence": it[attrFence], ":attempt": it[attrAttempt],
		":lease": it[attrLease], ":exit": it[attrExit], ":started": it[attrStarted], ":ttl": n(r.Expires.Unix()),
		":prev_owner": s(prev.Owner), ":prev_fence": n(prev.Fence), ":prev_state": s(string(prev.State)),
	}
	var remove []string
	if r.Token != "" {
		set = append(set, "#token = :token")
		values[":token"] = it[attrToken]
	} else {
		remove = append(remove, "#token")
	}
	if r.Finished.IsZero() {
		remove = append(remove, "#finished")
	} else {
		set = append(set, "#finished = :finished")
		values[":finished"] = it[attrFinished]
	}
	notes := r.notes()
	for _, name := range []string{attrReason, attrActor, attrAction, attrDetail, attrRequest, attrTail} {
		names["#"+name] = name
		if v, ok := notes[name]; ok {
			set = append(set, "#"+name+" = :"+name)
			values[":"+name] = s(v)
		} else {
			remove = append(remove, "#"+name)
		}
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	_, err := d.api.updateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(d.Table),
		Key:                                 keyOf(r.Key),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String("#owner = :prev_owner AND #fence = :prev_fence AND #state = :prev_state"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return d.writeErr(ctx, "UpdateItem", r.Key, err)
}

// maxQueryPages bounds one listing.
const maxQueryPages = 100

// Recent implements Store with one paginated Query: on the table for one
// job, on GroupIndex for a whole group.
func (d *DynamoDB) Recent(ctx context.Context, group, job string, since time.Time, limit int) ([]Record, error) {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(d.Table),
		ScanIndexForward:         aws.Bool(false),
		ExpressionAttributeNames: map[string]string{"#tick": attrTick},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":since": s(since.UTC().Format(TickFormat)),
		},
	}
	if job != "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND #tick >= :since")
		in.ExpressionAttributeNames["#pk"] = attrPK
		in.ExpressionAttributeValues[":pk"] = s(Key{Group: group, Job: job}.Partition())
	} else {
		in.IndexName = aws.String(GroupIndex)
		in.KeyConditionExpression = aws.String("#grp = :grp AND #tick >= :since")
		in.ExpressionAttributeNames["#grp"] = attrGroup
		in.ExpressionAttributeValues[":grp"] = s(group)
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	var out []Record
	for range maxQueryPages {
		page, err := d.api.query(ctx, in)
		if err != nil {
			return nil, d.classify(ctx, "Query", err)
		}
		items := page.Items
		if in.IndexName != nil {
			// The index holds keys only: read the items themselves.
			if items, err = d.items(ctx, items); err != nil {
				return nil, err
			}
		}
		for _, it := range items {
			r, err := fromItem(it)
			if err != nil {
				return nil, err
			}
			if d.now != nil && !r.Expires.IsZero() && d.now().After(r.Expires) {
				continue // TTL deletion is lazy: an expired item may still be listed
			}
			out = append(out, r)
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	return out, nil
}

// items returns the full items of index items, in their order: one
// eventually consistent BatchGetItem per 100 (history may lag a second).
// Index items that already hold a record (an index made before it
// projected keys only) are used as they are.
func (d *DynamoDB) items(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	full := map[string]map[string]types.AttributeValue{}
	id := func(it map[string]types.AttributeValue) string {
		pk, _ := it[attrPK].(*types.AttributeValueMemberS)
		sk, _ := it[attrTick].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil {
			return ""
		}
		return pk.Value + "\x00" + sk.Value
	}
	var want []map[string]types.AttributeValue
	for _, it := range keys {
		if _, ok := it[attrState]; ok {
			full[id(it)] = it
		} else {
			want = append(want, map[string]types.AttributeValue{attrPK: it[attrPK], attrTick: it[attrTick]})
		}
	}
	for len(want) > 0 {
		batch := want[:min(len(want), 100)]
		want = want[len(batch):]
		req := map[string]types.KeysAndAttributes{d.Table: {Keys: batch}}
		for tries := 0; len(req) > 0; tries++ {
			if tries == 10 {
				return nil, tempFail(fmt.Errorf("ledger: DynamoDB BatchGetItem on %s left keys unread after %d tries", quote(d.Table), tries), "retry later")
			}
			out, err := d.api.batchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, d.classify(ctx, "BatchGetItem", err)
			}
			for _, it := range out.Responses[d.Table] {
				full[id(it)] = it
			}
			req = out.UnprocessedKeys
		}
	}
	out := make([]map[string]types.AttributeValue, 0, len(keys))
	for _, it := range keys {
		if f, ok := full[id(it)]; ok {
			out = append(out, f) // an item deleted meanwhile (TTL) is left out
		}
	}
	return out, nil
}

// TakenAt implements Store with one Query of GroupIndex: the jobs of group
// that have a record at tick. The index is eventually consistent: a record
// written a moment ago may be missing (a claim then finds it with its
// conditional write, at the cost of a refused write), never the reverse.
func (d *DynamoDB) TakenAt(ctx context.Context, group string, tick time.Time) (map[string]bool, error) {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(d.Table),
		IndexName:                aws.String(GroupIndex),
		KeyConditionExpression:   aws.String("#grp = :grp AND #tick = :tick"),
		ExpressionAttributeNames: map[string]string{"#grp": attrGroup, "#tick": attrTick},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":grp": s(group), ":tick": s(Key{Tick: tick}.TickString()),
		},
	}
	taken := map[string]bool{}
	prefix := group + "#"
	for range maxQueryPages {
		page, err := d.api.query(ctx, in)
		if err != nil {
			return nil, d.classify(ctx, "Query", err)
		}
		for _, it := range page.Items {
			if pk, ok := it[attrPK].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, prefix) {
				taken[pk.Value[len(prefix):]] = true
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	return taken, nil
}

func (d *DynamoDB) writeErr(ctx context.Context, op string, k Key, err error) error {
	if err == nil {
		return nil
	}
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		c := &Conflict{Key: k}
		// Not every DynamoDB-compatible server returns the item: a missing
		// one means "held by someone", never an error.
		if len(cf.Item) > 0 {
			if r, err := fromItem(cf.Item); err == nil {
				c.Holder = &r
			}
		}
		return c
	}
	return d.classify(ctx, op, err)
}

// classify gives an SDK error its exit code: no table, no permission or a
// wrong schema will not fix themselves (78); throttling, 5xx and timeouts
// are temporary (75).
func (d *DynamoDB) classify(ctx context.Context, op string, err error) error {
	table := quote(d.Table)
	if ctx.Err() != nil {
		return tempFail(fmt.Errorf("ledger: DynamoDB %s on %s did not answer: %w", op, table, context.Cause(ctx)),
			"nothing was run; retry later or raise --timeout")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return tempFail(fmt.Errorf("ledger: DynamoDB %s on %s: %s", op, table, flatten(err.Error())), "nothing was run; retry later")
	}
	code, msg := ae.ErrorCode(), flatten(ae.ErrorMessage())
	switch {
	case code == "ResourceNotFoundException":
		return configErr(fmt.Errorf("ledger: DynamoDB table %s does not exist (%s)", table, code),
			"create it with `leadergate ledger create --table "+d.Table+"`, or fix --ledger")
	case strings.HasPrefix(code, "AccessDenied") || code == "UnrecognizedClientException" || code == "InvalidSignatureException":
		return configErr(fmt.Errorf("ledger: DynamoDB refused %s on %s (%s): %s", op, table, code, msg),
			"attach the statement printed by `leadergate iam-policy --ledger "+d.Table+"` to the instance role")
	case code == "ValidationException":
		return configErr(fmt.Errorf("ledger: DynamoDB rejected %s on %s: %s", op, table, msg),
			"check that the table was made by `leadergate ledger create` (keys pk and tick, index "+GroupIndex+")")
	case code == "ProvisionedThroughputExceededException" || code == "ThrottlingException" || code == "RequestLimitExceeded":
		return tempFail(fmt.Errorf("ledger: DynamoDB throttled %s on %s (%s)", op, table, code),
			"nothing was run; use on-demand billing (leadergate ledger create) or retry later")
	default:
		return tempFail(fmt.Errorf("ledger: DynamoDB %s on %s failed (%s): %s", op, table, code, msg), "nothing was run; retry later")
	}
}

// Ensure makes the table usable, as `leadergate ledger create` does: it
// creates it (on-demand billing, the group index) when absent, waits until
// it is ACTIVE, and enables TTL. A table that exists with other keys is an
// error (78). created reports a new table.
func (d *DynamoDB) Ensure(ctx context.Context, poll time.Duration) (created bool, err error) {
	desc, err := d.api.describeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.Table)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		if _, err := d.api.createTable(ctx, tableSpec(d.Table)); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) { // created meanwhile by someone else: check it below
				return false, d.classify(ctx, "CreateTable", err)
			}
		} else {
			created = true
		}
	case err != nil:
		return false, d.classify(ctx, "DescribeTable", err)
	default:
		if err := checkSchema(d.Table, desc.Table); err != nil {
			return false, err
		}
	}
	for desc == nil || desc.Table == nil || desc.Table.TableStatus != types.TableStatusActive {
		if desc != nil {
			select {
			case <-ctx.Done():
				return created, tempFail(fmt.Errorf("ledger: table %s is not ACTIVE yet: %w", quote(d.Table), context.Cause(ctx)),
					"run `leadergate ledger create` again in a minute")
			case <-time.After(poll):
			}
		}
		if desc, err = d.api.describeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.Table)}); err != nil {
			return created, d.classify(ctx, "DescribeTable", err)
		}
	}
	if err := checkSchema(d.Table, desc.Table); err != nil {
		return created, err
	}
	ttl, err := d.api.describeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(d.Table)})
	if err != nil {
		return created, d.classify(ctx, "DescribeTimeToLive", err)
	}
	if t := ttl.TimeToLiveDescription; t != nil && (t.TimeToLiveStatus == types.TimeToLiveStatusEnabled || t.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		if aws.ToString(t.AttributeName) != attrTTL {
			return created, configErr(fmt.Errorf("ledger: table %s expires items by %q, not %q", quote(d.Table), aws.ToString(t.AttributeName), attrTTL),
				"use another --table for leadergate")
		}
		return created, nil
	}
	_, err = d.api.updateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(d.Table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrTTL), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return created, d.classify(ctx, "UpdateTimeToLive", err)
	}
	return created, nil
}

func tableSpec(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrTick), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrGroup), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrTick), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(GroupIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrGroup), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrTick), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
	}
}

// checkSchema compares an existing table's keys with ours.
func checkSchema(name string, t *types.TableDescription) error {
	if t == nil {
		return tempFail(fmt.Errorf("ledger: DescribeTable %s returned no table", quote(name)), "retry later")
	}
	keys := func(ks []types.KeySchemaElement) string {
		var parts []string
		for _, k := range ks {
			parts = append(parts, aws.ToString(k.AttributeName)+" "+strings.ToLower(string(k.KeyType)))
		}
		return strings.Join(parts, ", ")
	}
	want := attrPK + " hash, " + attrTick + " range"
	if got := keys(t.KeySchema); got != want {
		return configErr(fmt.Errorf("ledger: table %s has keys (%s), not leadergate's (%s)", quote(name), got, want),
			"give leadergate a table of its own: --table/--ledger with a new name")
	}
	for _, g := range t.GlobalSecondaryIndexes {
		if aws.ToString(g.IndexName) == GroupIndex {
			if got := keys(g.KeySchema); got != attrGroup+" hash, "+attrTick+" range" {
				return configErr(fmt.Errorf("ledger: index %s of table %s has keys (%s)", GroupIndex, quote(name), got),
					"give leadergate a table of its own: --table/--ledger with a new name")
			}
			return nil
		}
	}
	return configErr(fmt.Errorf("ledger: table %s has no index %q (history of a whole group needs it)", quote(name), GroupIndex),
		"give leadergate a table of its own, made by `leadergate ledger create`")
}
