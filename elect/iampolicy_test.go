package elect_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/leadergate/leadergate/elect"
)

// Regenerate the shipped policy after changing IAMPolicy with:
//
//	go test ./elect/ -run TestIAMPolicyFile -update-iam-policy
var updateIAMPolicy = flag.Bool("update-iam-policy", false, "rewrite .ebextensions/iam-policy.json from IAMPolicy()")

var iamPolicyFile = filepath.Join("..", ".ebextensions", "iam-policy.json")

func TestIAMPolicyFile(t *testing.T) {
	want := elect.IAMPolicy()
	if *updateIAMPolicy {
		if err := os.WriteFile(iamPolicyFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(iamPolicyFile)
	if err != nil {
		t.Fatalf("read the shipped policy: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from elect.IAMPolicy(); regenerate it with\n\tgo test ./elect/ -run TestIAMPolicyFile -update-iam-policy\ngot:\n%s\nwant:\n%s", iamPolicyFile, got, want)
	}
}

// statement is the generic shape of an IAM policy statement: Action and
// Resource may be a string or a list, so they are decoded loosely.
type statement struct {
	Sid       string
	Effect    string
	Action    any
	Resource  any
	Condition map[string]map[string]any
	// Anything else (NotAction, NotResource, Principal) would widen or
	// change the policy: caught by DisallowUnknownFields.
}

func decodePolicy(t *testing.T, b []byte) (version string, stmts []statement) {
	t.Helper()
	var p struct {
		Version   string
		Statement []statement
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("IAMPolicy() is not a policy document: %v\n%s", err, b)
	}
	return p.Version, p.Statement
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

func TestIAMPolicyIsLeastPrivilege(t *testing.T) {
	version, all := decodePolicy(t, elect.IAMPolicy())
	if version != "2012-10-17" {
		// Policy variables such as ${ec2:InstanceId} are only expanded
		// under the 2012-10-17 language version.
		t.Errorf("Version = %q, want 2012-10-17", version)
	}
	// The election's statements; the ledger's are checked apart.
	var stmts []statement
	for _, s := range all {
		if !strings.Contains(fmt.Sprint(s.Action), "dynamodb:") {
			stmts = append(stmts, s)
		}
	}
	if len(stmts) != 3 {
		t.Fatalf("got %d statements, want 3 (DescribeInstances, CreateTags, DeleteTags)", len(stmts))
	}
	byAction := map[string]statement{}
	for _, s := range stmts {
		if s.Effect != "Allow" {
			t.Errorf("statement %s: Effect = %q, want Allow", s.Sid, s.Effect)
		}
		actions := strs(s.Action)
		if len(actions) != 1 {
			t.Fatalf("statement %s: actions %v, want exactly one per statement", s.Sid, actions)
		}
		byAction[actions[0]] = s
	}

	describe, ok := byAction["ec2:DescribeInstances"]
	if !ok {
		t.Fatalf("no statement allows ec2:DescribeInstances; have %v", keys(byAction))
	}
	if r := strs(describe.Resource); !reflect.DeepEqual(r, []string{"*"}) {
		t.Errorf("DescribeInstances resource = %v, want [*] (it supports no resource-level permissions)", r)
	}
	if describe.Condition != nil {
		t.Errorf("DescribeInstances has conditions %v; none are needed", describe.Condition)
	}

	tag, ok := byAction["ec2:CreateTags"]
	if !ok {
		t.Fatalf("no statement allows ec2:CreateTags; have %v", keys(byAction))
	}
	if r := strs(tag.Resource); !reflect.DeepEqual(r, []string{"arn:aws:ec2:*:*:instance/*"}) {
		t.Errorf("CreateTags resource = %v, want only instances", r)
	}
	wantCond := map[string]map[string]any{
		// The caller is the instance being tagged.
		"ArnLike": {"ec2:SourceInstanceARN": "arn:aws:ec2:*:*:instance/${ec2:InstanceId}"},
		// Only leader=true or leader=false (a drain with --no-tag sends none) ...
		"StringEqualsIfExists": {"aws:RequestTag/leader": []any{"true", "false"}},
		// ... and no key but the leader and draining ones in the same request.
		"ForAllValues:StringEquals": {"aws:TagKeys": []any{"leader", "leadergate:draining", "leadergate:draining-reason"}},
	}
	if !reflect.DeepEqual(tag.Condition, wantCond) {
		t.Errorf("CreateTags conditions:\n got %#v\nwant %#v", tag.Condition, wantCond)
	}

	untag, ok := byAction["ec2:DeleteTags"]
	if !ok {
		t.Fatalf("no statement allows ec2:DeleteTags; have %v", keys(byAction))
	}
	if r := strs(untag.Resource); !reflect.DeepEqual(r, []string{"arn:aws:ec2:*:*:instance/*"}) {
		t.Errorf("DeleteTags resource = %v, want only instances", r)
	}
	wantUntag := map[string]map[string]any{
		"ArnLike": {"ec2:SourceInstanceARN": "arn:aws:ec2:*:*:instance/${ec2:InstanceId}"},
		// Only the draining keys: never the leader or the group tag ...
		"ForAllValues:StringEquals": {"aws:TagKeys": []any{"leadergate:draining", "leadergate:draining-reason"}},
		// ... and a key must be named: DeleteTags without one deletes them all.
		"Null": {"aws:TagKeys": "false"},
	}
	if !reflect.DeepEqual(untag.Condition, wantUntag) {
		t.Errorf("DeleteTags conditions:\n got %#v\nwant %#v", untag.Condition, wantUntag)
	}
	if _, bad := tag.Condition["StringEquals"]["ec2:CreateAction"]; bad {
		t.Error("ec2:CreateAction condition would block plain CreateTags calls")
	}
}

func TestIAMPolicyUsesLeaderTag(t *testing.T) {
	// The policy and the code that tags must agree on the key, or every
	// CreateTags is denied.
	if !bytes.Contains(elect.IAMPolicy(), []byte(`"aws:RequestTag/`+elect.LeaderTag+`"`)) {
		t.Errorf("policy does not allow the tag key %q that elect publishes", elect.LeaderTag)
	}
}

func TestIAMPolicyUsesTheDrainingTags(t *testing.T) {
	for _, k := range []string{elect.DrainingTag, elect.DrainingReasonTag} {
		if !bytes.Contains(elect.IAMPolicy(), []byte(`"`+k+`"`)) {
			t.Errorf("policy does not allow the tag key %q that drain sets", k)
		}
	}
}

func TestIAMPolicyProtectIsScopedByTheGroupTag(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    elect.IAMOptions
		want map[string]map[string]any
	}{
		{"any group carrying the group tag", elect.IAMOptions{Protect: true, ProtectTagKey: "elasticbeanstalk:environment-id"},
			map[string]map[string]any{"Null": {"aws:ResourceTag/elasticbeanstalk:environment-id": "false"}}},
		{"the one group of --group", elect.IAMOptions{Protect: true, ProtectTagKey: "aws:autoscaling:groupName", ProtectTagValue: "web-asg"},
			map[string]map[string]any{"StringEquals": {"aws:ResourceTag/aws:autoscaling:groupName": "web-asg"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stmts := decodePolicy(t, elect.IAMPolicyWith(tc.o))
			// The election's 3, protection, the ledger's 2.
			if len(stmts) != 6 {
				t.Fatalf("%d statements, want 6", len(stmts))
			}
			p := stmts[3]
			if a := strs(p.Action); !reflect.DeepEqual(a, []string{"autoscaling:SetInstanceProtection"}) {
				t.Errorf("action %v", a)
			}
			if r := strs(p.Resource); !reflect.DeepEqual(r, []string{"arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*"}) {
				t.Errorf("resource %v, want Auto Scaling groups only", r)
			}
			if !reflect.DeepEqual(p.Condition, tc.want) {
				t.Errorf("conditions:\n got %#v\nwant %#v", p.Condition, tc.want)
			}
		})
	}
	if bytes.Contains(elect.IAMPolicy(), []byte("autoscaling")) {
		t.Error("the default policy allows Auto Scaling calls; only --protect should")
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestIAMPolicyLedgerStatementIsScopedToTheTable(t *testing.T) {
	var p struct{ Statement []map[string]any }
	if err := json.Unmarshal(elect.IAMPolicyWith(elect.IAMOptions{Ledger: "billing-ledger"}), &p); err != nil {
		t.Fatal(err)
	}
	allow, deny := p.Statement[len(p.Statement)-2], p.Statement[len(p.Statement)-1]
	table := "[arn:aws:dynamodb:*:*:table/billing-ledger arn:aws:dynamodb:*:*:table/billing-ledger/index/*]"
	if fmt.Sprint(allow["Action"]) != "[dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem dynamodb:Query dynamodb:BatchGetItem]" ||
		fmt.Sprint(allow["Resource"]) != table {
		t.Errorf("ledger statement = %v", allow)
	}
	// Instances read controls but cannot write them: a group's controls
	// are the only partition whose key ends in '#'.
	if deny["Effect"] != "Deny" || fmt.Sprint(deny["Action"]) != "[dynamodb:PutItem dynamodb:UpdateItem dynamodb:DeleteItem]" ||
		fmt.Sprint(deny["Resource"]) != table || fmt.Sprint(deny["Condition"]) != "map[ForAnyValue:StringLike:map[dynamodb:LeadingKeys:[*#]]]" {
		t.Errorf("controls statement = %v", deny)
	}
	// The default policy names DynamoDB tables of Elastic Beanstalk
	// environments' stacks only (TestIAMPolicyCoversTheElasticBeanstalkLedger).
	if n, m := bytes.Count(elect.IAMPolicy(), []byte("arn:aws:dynamodb:")), bytes.Count(elect.IAMPolicy(), []byte("arn:aws:dynamodb:*:*:table/"+elect.ElasticBeanstalkLedgerTables)); n != m {
		t.Errorf("the default policy names %d DynamoDB resources, %d of them Elastic Beanstalk ledgers", n, m)
	}
	var op struct{ Statement []map[string]any }
	if err := json.Unmarshal(elect.OperatorPolicy("billing-ledger"), &op); err != nil {
		t.Fatal(err)
	}
	if len(op.Statement) != 1 || op.Statement[0]["Effect"] != "Allow" || fmt.Sprint(op.Statement[0]["Resource"]) != table ||
		bytes.Contains(elect.OperatorPolicy("billing-ledger"), []byte("ec2:")) {
		t.Errorf("operator policy = %v; want the table's item calls only", op.Statement)
	}
}

// The ledger is on by default on Elastic Beanstalk: the default policy
// covers the table its .ebextensions make, whatever the environment, and
// no other table.
func TestIAMPolicyCoversTheElasticBeanstalkLedger(t *testing.T) {
	_, stmts := decodePolicy(t, elect.IAMPolicy())
	want := []string{"arn:aws:dynamodb:*:*:table/" + elect.ElasticBeanstalkLedgerTables, "arn:aws:dynamodb:*:*:table/" + elect.ElasticBeanstalkLedgerTables + "/index/*"}
	var found bool
	for _, s := range stmts {
		if s.Sid == "LeadergateTickLedger" {
			found = true
			if !reflect.DeepEqual(strs(s.Resource), want) {
				t.Errorf("the ledger statement covers %v, want %v", strs(s.Resource), want)
			}
		}
	}
	if !found {
		t.Errorf("the default policy has no ledger statement:\n%s", elect.IAMPolicy())
	}
	if !bytes.Contains(elect.IAMPolicyWith(elect.IAMOptions{Ledger: "mine"}), []byte("table/mine\"")) || bytes.Contains(elect.IAMPolicyWith(elect.IAMOptions{Ledger: "mine"}), []byte("awseb-")) {
		t.Error("--ledger TABLE must name that table only")
	}
}
