package elect

import (
	"bytes"
	"encoding/json"
)

// The least-privilege IAM policy. The form of the tagging statements is the
// one AWS uses in its managed policy AWSEC2VssSnapshotPolicy:
// ec2:SourceInstanceARN works as a condition key, not as a Resource
// variable, and ${ec2:InstanceId} resolves to the instance being tagged, so
// the caller can tag only itself. There is deliberately no ec2:CreateAction
// condition: it would block a plain CreateTags call.
type (
	iamPolicy struct {
		Version   string
		Statement []iamStatement
	}
	iamStatement struct {
		Sid       string
		Effect    string
		Action    any                       // one action, or a list
		Resource  any                       // one ARN, or a list
		Condition map[string]map[string]any `json:",omitempty"`
	}
)

// IAMOptions add opt-in statements to the policy.
type IAMOptions struct {
	// Protect adds autoscaling:SetInstanceProtection (--protect), scoped to
	// the Auto Scaling groups tagged ProtectTagKey (=ProtectTagValue when
	// set): the action has no instance-id condition key.
	Protect         bool
	ProtectTagKey   string
	ProtectTagValue string
	// Ledger names the tick ledger's table (--ledger TABLE): GetItem,
	// PutItem, UpdateItem, Query and BatchGetItem on it and its indexes
	// only. Empty: the tables .ebextensions/leadergate-ledger.config makes,
	// [ElasticBeanstalkLedgerTables], since the ledger is on by default on
	// Elastic Beanstalk. CreateTable and UpdateTimeToLive are for whoever
	// runs ledger create.
	Ledger string
}

// ElasticBeanstalkLedgerTables matches the names CloudFormation gives the
// table of .ebextensions/leadergate-ledger.config in any environment:
// <stack>-<logical id>-<random>, where Elastic Beanstalk names the stack
// awseb-<environment id>-stack.
const ElasticBeanstalkLedgerTables = "awseb-e-*-stack-LeadergateLedger-*"

// selfOnly is the condition that makes the caller the instance it tags.
func selfOnly() map[string]any {
	return map[string]any{"ec2:SourceInstanceARN": "arn:aws:ec2:*:*:instance/${ec2:InstanceId}"}
}

// IAMPolicy returns the least-privilege IAM policy leadergate needs, as
// indented JSON ending in a newline: ec2:DescribeInstances on "*" (it cannot
// be scoped to resources); ec2:CreateTags only on the calling instance, only
// for the [LeaderTag] (with the values "true" or "false"), [DrainingTag] and
// [DrainingReasonTag] keys; ec2:DeleteTags only on the calling instance and
// only for the two draining keys; and the tick ledger's item calls on the
// tables of Elastic Beanstalk environments (see [IAMOptions.Ledger]).
//
// Any instance holding this policy can still tag itself leader=true, which is
// why the election never reads the tag; the draining tags it can set only on
// itself, and they only take it out of the election. .ebextensions/
// iam-policy.json is this output, byte for byte.
func IAMPolicy() []byte { return IAMPolicyWith(IAMOptions{}) }

// IAMPolicyWith is IAMPolicy with the opt-in statements of o.
func IAMPolicyWith(o IAMOptions) []byte {
	p := iamPolicy{
		Version: "2012-10-17",
		Statement: []iamStatement{
			{
				Sid:      "LeadergateDescribeInstances",
				Effect:   "Allow",
				Action:   "ec2:DescribeInstances",
				Resource: "*",
			},
			{
				Sid:      "LeadergateTagOnlySelf",
				Effect:   "Allow",
				Action:   "ec2:CreateTags",
				Resource: "arn:aws:ec2:*:*:instance/*",
				Condition: map[string]map[string]any{
					"ArnLike": selfOnly(),
					// IfExists: a drain with --no-tag sets no leader key.
					"StringEqualsIfExists":      {"aws:RequestTag/" + LeaderTag: []string{"true", "false"}},
					"ForAllValues:StringEquals": {"aws:TagKeys": []string{LeaderTag, DrainingTag, DrainingReasonTag}},
				},
			},
			{
				Sid:      "LeadergateUndrainOnlySelf",
				Effect:   "Allow",
				Action:   "ec2:DeleteTags",
				Resource: "arn:aws:ec2:*:*:instance/*",
				Condition: map[string]map[string]any{
					"ArnLike":                   selfOnly(),
					"ForAllValues:StringEquals": {"aws:TagKeys": []string{DrainingTag, DrainingReasonTag}},
					// A DeleteTags naming no key deletes every tag: refuse it.
					"Null": {"aws:TagKeys": "false"},
				},
			},
		},
	}
	if o.Protect {
		key := o.ProtectTagKey
		if key == "" {
			key = TagEnvironmentID
		}
		cond := map[string]map[string]any{"Null": {"aws:ResourceTag/" + key: "false"}}
		if o.ProtectTagValue != "" {
			cond = map[string]map[string]any{"StringEquals": {"aws:ResourceTag/" + key: o.ProtectTagValue}}
		}
		p.Statement = append(p.Statement, iamStatement{
			Sid:       "LeadergateProtectWhileLeaderJobsRun",
			Effect:    "Allow",
			Action:    "autoscaling:SetInstanceProtection",
			Resource:  "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*",
			Condition: cond,
		})
	}
	table := o.Ledger
	if table == "" {
		table = ElasticBeanstalkLedgerTables
	}
	p.Statement = append(p.Statement, ledgerStatements(table)...)
	return encodePolicy(p)
}

// ledgerTable is the table and its indexes.
func ledgerTable(table string) []string {
	return []string{"arn:aws:dynamodb:*:*:table/" + table, "arn:aws:dynamodb:*:*:table/" + table + "/index/*"}
}

// ledgerStatements let an instance claim, renew and finish runs and read
// history (BatchGetItem: the group index holds keys only) and controls,
// but not write controls: those live in a group's own partition, whose key
// ends in '#' (no job's can), and only an operator gives them.
func ledgerStatements(table string) []iamStatement {
	return []iamStatement{{
		Sid:      "LeadergateTickLedger",
		Effect:   "Allow",
		Action:   []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchGetItem"},
		Resource: ledgerTable(table),
	}, {
		Sid:       "LeadergateControlsAreReadOnly",
		Effect:    "Deny",
		Action:    []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
		Resource:  ledgerTable(table),
		Condition: map[string]map[string]any{"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": []string{"*#"}}},
	}}
}

// OperatorPolicy is what an operator's role needs for the controls
// (pause, resume, trigger, skip, backfill, rerun) and history on table:
// the item calls on it, controls included. The caller's identity comes
// from sts:GetCallerIdentity, which needs no permission.
func OperatorPolicy(table string) []byte {
	return encodePolicy(iamPolicy{Version: "2012-10-17", Statement: []iamStatement{{
		Sid:      "LeadergateOperator",
		Effect:   "Allow",
		Action:   []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchGetItem"},
		Resource: ledgerTable(table),
	}}})
}

func encodePolicy(p iamPolicy) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		// Only fixed strings and maps of strings: encoding cannot fail.
		panic("encode IAM policy: " + err.Error())
	}
	return buf.Bytes()
}
