// Package emftest checks CloudWatch Embedded Metric Format records against
// the specification, for tests of what writes them (package emf, the
// scheduler's JSON log). It is test machinery: the leadergate binary must
// not link it.
package emftest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Validate checks one log line against the CloudWatch Embedded Metric
// Format specification ("Specification: Embedded metric format", CloudWatch
// User Guide, and the JSON schema it gives), rule by rule:
//
//   - the line is one JSON object, nothing before or after it, at most
//     256 KB (the CloudWatch Logs event limit the spec names);
//   - the root has "_aws", an object with exactly "Timestamp" (an integer:
//     milliseconds since the epoch) and "CloudWatchMetrics" (an array of
//     MetricDirective);
//   - a MetricDirective has exactly Namespace (string, 1 to 255
//     characters), Dimensions (an array of at least one DimensionSet) and
//     Metrics (an array of at most 100 MetricDefinition);
//   - a DimensionSet is an array of 0 to 9 strings of 1 to 255 characters
//     (the schema's limit; newer text allows 30), each naming a root
//     member whose value is a string (a CloudWatch dimension value: 1 to
//     1,024 characters);
//   - a MetricDefinition has Name (string, 1 to 255 characters), maybe
//     Unit (one of the units of the schema) and StorageResolution (1 or
//     60), nothing else; Name names a root member whose value is a number
//     or an array of at most 100 numbers;
//   - "objects defined by this specification MUST NOT contain any
//     additional members".
//
// It also refuses what would make a metric ambiguous: a name listed twice
// in a directive, or both a metric and a dimension.
func Validate(line []byte) error {
	if len(line) > 256<<10 {
		return fmt.Errorf("%d bytes, more than a log event's 256 KB", len(line))
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	if dec.More() || strings.TrimSpace(string(line[dec.InputOffset():])) != "" {
		return fmt.Errorf("data after the JSON object")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return fmt.Errorf(`no "_aws" object at the root`)
	}
	if err := onlyMembers(aws, "_aws", "Timestamp", "CloudWatchMetrics"); err != nil {
		return err
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		return fmt.Errorf("_aws.Timestamp is missing or not a number")
	}
	if _, err := ts.Int64(); err != nil {
		return fmt.Errorf("_aws.Timestamp %s is not an integer (milliseconds)", ts)
	}
	dirs, ok := aws["CloudWatchMetrics"].([]any)
	if !ok {
		return fmt.Errorf("_aws.CloudWatchMetrics is missing or not an array")
	}
	if len(dirs) == 0 {
		return fmt.Errorf("_aws.CloudWatchMetrics is empty: the record defines no metric")
	}
	for i, d := range dirs {
		dir, ok := d.(map[string]any)
		if !ok {
			return fmt.Errorf("directive %d is not an object", i)
		}
		where := fmt.Sprintf("directive %d", i)
		if err := onlyMembers(dir, where, "Namespace", "Dimensions", "Metrics"); err != nil {
			return err
		}
		ns, ok := dir["Namespace"].(string)
		if !ok || len(ns) < 1 || len(ns) > 255 {
			return fmt.Errorf("%s: Namespace %v is not a string of 1 to 255 characters", where, dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok || len(sets) < 1 {
			return fmt.Errorf("%s: Dimensions is not an array of at least one DimensionSet", where)
		}
		dims := map[string]bool{}
		for _, s := range sets {
			set, ok := s.([]any)
			if !ok || len(set) > 9 {
				return fmt.Errorf("%s: DimensionSet %v is not an array of at most 9 keys", where, s)
			}
			for _, k := range set {
				key, ok := k.(string)
				if !ok || len(key) < 1 || len(key) > 255 {
					return fmt.Errorf("%s: dimension key %v is not a string of 1 to 255 characters", where, k)
				}
				v, ok := root[key].(string)
				if !ok {
					return fmt.Errorf("%s: dimension %q has no string member at the root (%v)", where, key, root[key])
				}
				if len(v) < 1 || len(v) > 1024 {
					return fmt.Errorf("%s: dimension %q's value %q is not 1 to 1,024 characters", where, key, v)
				}
				dims[key] = true
			}
		}
		ms, ok := dir["Metrics"].([]any)
		if !ok {
			return fmt.Errorf("%s: Metrics is not an array", where)
		}
		if len(ms) > 100 {
			return fmt.Errorf("%s: %d metrics, more than 100", where, len(ms))
		}
		seen := map[string]bool{}
		for _, m := range ms {
			def, ok := m.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: a MetricDefinition is not an object", where)
			}
			if err := onlyMembers(def, where+" metric", "Name", "Unit", "StorageResolution"); err != nil {
				return err
			}
			name, ok := def["Name"].(string)
			if !ok || len(name) < 1 || len(name) > 255 {
				return fmt.Errorf("%s: metric Name %v is not a string of 1 to 255 characters", where, def["Name"])
			}
			if seen[name] || dims[name] {
				return fmt.Errorf("%s: %q is listed twice, or is both a metric and a dimension", where, name)
			}
			seen[name] = true
			if u, ok := def["Unit"]; ok {
				if s, isString := u.(string); !isString || !unitPattern.MatchString(s) {
					return fmt.Errorf("%s: metric %q has unit %v, not a CloudWatch unit", where, name, u)
				}
			}
			if r, ok := def["StorageResolution"]; ok && r != json.Number("1") && r != json.Number("60") {
				return fmt.Errorf("%s: metric %q has StorageResolution %v, not 1 or 60", where, name, r)
			}
			if err := metricValue(root[name]); err != nil {
				return fmt.Errorf("%s: metric %q: %v", where, name, err)
			}
		}
	}
	return nil
}

// unitPattern is the schema's pattern for Unit.
var unitPattern = regexp.MustCompile(`^(Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None)$`)

func metricValue(v any) error {
	switch v := v.(type) {
	case json.Number:
		return nil
	case []any:
		if len(v) > 100 {
			return fmt.Errorf("an array of %d values, more than 100", len(v))
		}
		for _, x := range v {
			if _, ok := x.(json.Number); !ok {
				return fmt.Errorf("the array holds %v, not a number", x)
			}
		}
		return nil
	case nil:
		return fmt.Errorf("no member at the root")
	}
	return fmt.Errorf("the root member is %v, not a number or an array of numbers", v)
}

func onlyMembers(obj map[string]any, where string, allowed ...string) error {
	for k := range obj {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return fmt.Errorf("%s has the member %q, which the specification does not define", where, k)
		}
	}
	return nil
}
