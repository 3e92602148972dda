package elect

import (
	"bytes"
	"encoding/json"
)

// The least-privilege IAM policy. The form of the CreateTags statement is
// the one AWS uses in its managed policy AWSEC2VssSnapshotPolicy:
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
		Action    string
		Resource  string
		Condition *iamCondition `json:",omitempty"`
	}
	iamCondition struct {
		ArnLike                 map[string]string   `json:"ArnLike"`
		StringEquals            map[string][]string `json:"StringEquals"`
		ForAllValuesStringEqual map[string][]string `json:"ForAllValues:StringEquals"`
	}
)

// IAMPolicy returns the least-privilege IAM policy leadergate needs, as
// indented JSON ending in a newline: ec2:DescribeInstances on "*" (it cannot
// be scoped to resources), and ec2:CreateTags only on the calling instance,
// only for the [LeaderTag] key and only with the values "true" or "false".
//
// Any instance holding this policy can still tag itself leader=true, which is
// why the election never reads the tag. .ebextensions/iam-policy.json is this
// output, byte for byte.
func IAMPolicy() []byte {
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
				Condition: &iamCondition{
					ArnLike:                 map[string]string{"ec2:SourceInstanceARN": "arn:aws:ec2:*:*:instance/${ec2:InstanceId}"},
					StringEquals:            map[string][]string{"aws:RequestTag/" + LeaderTag: {"true", "false"}},
					ForAllValuesStringEqual: map[string][]string{"aws:TagKeys": {LeaderTag}},
				},
			},
		},
	}
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
