package emftest

import (
	"fmt"
	"strings"
	"testing"
)

// TestValidatorRefusesWhatTheSpecificationForbids: the validator is only
// worth its passes if it fails; each case breaks one rule of a valid
// record (the specification's own example).
func TestValidatorRefusesWhatTheSpecificationForbids(t *testing.T) {
	const valid = `{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"lambda-function-metrics","Dimensions":[["functionVersion"]],"Metrics":[{"Name":"time","Unit":"Milliseconds"}]}]},"functionVersion":"$LATEST","time":100,"requestId":"989ffbf8-9ace-4817-a57c-e4dd734019ee"}`
	if err := Validate([]byte(valid)); err != nil {
		t.Fatalf("the specification's example is refused: %v", err)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf(`{"Name":"m%d"}`, i)
	}
	manyValues := strings.Repeat(`"m0":1,`, 1)
	for i := 1; i < 101; i++ {
		manyValues += fmt.Sprintf(`"m%d":1,`, i)
	}
	for _, c := range []struct{ name, line string }{
		{"a line that is not JSON", `time=12:00 msg=metrics`},
		{"text before the object", `INFO {"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}`},
		{"no _aws", `{"time":100}`},
		{"no Timestamp", `{"_aws":{"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"t"}]}]},"t":1}`},
		{"a Timestamp in seconds with a fraction", `{"_aws":{"Timestamp":1574109732.5,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"t"}]}]},"t":1}`},
		{"an empty namespace", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"","Dimensions":[[]],"Metrics":[{"Name":"t"}]}]},"t":1}`},
		{"no dimension set", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[],"Metrics":[{"Name":"t"}]}]},"t":1}`},
		{"ten dimensions in a set", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["a","a","a","a","a","a","a","a","a","a"]],"Metrics":[{"Name":"t"}]}]},"t":1,"a":"x"}`},
		{"a dimension missing at the root", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Job"]],"Metrics":[{"Name":"t"}]}]},"t":1}`},
		{"a dimension that is a number", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["Job"]],"Metrics":[{"Name":"t"}]}]},"t":1,"Job":3}`},
		{"a dimension nested, not at the root", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["A.a"]],"Metrics":[{"Name":"t"}]}]},"t":1,"A":{"a":"x"}}`},
		{"a metric missing at the root", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"t"}]}]}}`},
		{"a metric that is a string", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"t"}]}]},"t":"1"}`},
		{"a unit CloudWatch does not know", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"t","Unit":"Minutes"}]}]},"t":1}`},
		{"a member the directive does not define", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"t"}],"Period":60}]},"t":1}`},
		{"101 metrics in a directive", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[` + strings.Join(many, ",") + `]}]},` + strings.TrimSuffix(manyValues, ",") + `}`},
	} {
		if err := Validate([]byte(c.line)); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}
