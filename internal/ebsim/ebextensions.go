package ebsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
	"github.com/leadergate/leadergate/internal/motoserver"
)

// config is what the simulator uses of one .ebextensions/*.config.
type config struct {
	name              string
	Files             map[string]fileSpec
	Commands          []command // sorted by name, as Elastic Beanstalk runs them
	ContainerCommands []command
	Resources         map[string]map[string]any
	Properties        map[string]string // aws:elasticbeanstalk:application:environment
}

type fileSpec struct {
	Mode    string `yaml:"mode"`
	Content string `yaml:"content"`
}

type command struct {
	Name         string
	Command      string            `yaml:"command"`
	Env          map[string]string `yaml:"env"`
	Cwd          string            `yaml:"cwd"`
	Test         string            `yaml:"test"`
	IgnoreErrors bool              `yaml:"ignoreErrors"`
}

// readConfigs parses the bundle's .ebextensions/*.config in name order.
func readConfigs(bundle string) ([]config, error) {
	paths, err := filepath.Glob(filepath.Join(bundle, ".ebextensions", "*.config"))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	var out []config
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var raw struct {
			Files             map[string]fileSpec       `yaml:"files"`
			Commands          map[string]command        `yaml:"commands"`
			ContainerCommands map[string]command        `yaml:"container_commands"`
			Resources         map[string]map[string]any `yaml:"Resources"`
			OptionSettings    yaml.Node                 `yaml:"option_settings"`
		}
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		c := config{name: filepath.Base(p), Files: raw.Files, Resources: raw.Resources, Properties: map[string]string{}}
		c.Commands = sortedCommands(raw.Commands)
		c.ContainerCommands = sortedCommands(raw.ContainerCommands)
		if err := optionSettings(&raw.OptionSettings, c.Properties); err != nil {
			return nil, fmt.Errorf("%s: option_settings: %w", c.name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func sortedCommands(m map[string]command) []command {
	var out []command
	for _, name := range slices.Sorted(maps.Keys(m)) {
		c := m[name]
		c.Name = name
		out = append(out, c)
	}
	return out
}

const envNamespace = "aws:elasticbeanstalk:application:environment"

// optionSettings reads the environment properties of option_settings in
// either form Elastic Beanstalk accepts: namespace → {name: value}, or a
// list of {namespace, option_name, value}.
func optionSettings(n *yaml.Node, props map[string]string) error {
	switch n.Kind {
	case 0:
		return nil
	case yaml.MappingNode:
		var m map[string]map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		maps.Copy(props, m[envNamespace])
	case yaml.SequenceNode:
		var l []struct {
			Namespace string `yaml:"namespace"`
			Name      string `yaml:"option_name"`
			Value     string `yaml:"value"`
		}
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, o := range l {
			if o.Namespace == envNamespace {
				props[o.Name] = o.Value
			}
		}
	default:
		return errors.New("neither a map nor a list")
	}
	return nil
}

// resolve evaluates an option value: Elastic Beanstalk resolves a
// CloudFormation function written between backquotes (`{"Ref": "X"}`).
func (e *Env) resolve(v string) (string, error) {
	if !strings.HasPrefix(v, "`") || !strings.HasSuffix(v, "`") || len(v) < 2 {
		return v, nil
	}
	var fn map[string]any
	if err := json.Unmarshal([]byte(v[1:len(v)-1]), &fn); err != nil {
		return "", fmt.Errorf("%s is not a CloudFormation function: %w", v, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ref, ok := fn["Ref"].(string); ok {
		name, ok := e.resources[ref]
		if !ok {
			return "", fmt.Errorf("Ref %s: no such resource in Resources", ref)
		}
		return name, nil
	}
	if ga, ok := fn["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
		id, _ := ga[0].(string)
		attr, _ := ga[1].(string)
		name, ok := e.resources[id]
		if !ok {
			return "", fmt.Errorf("Fn::GetAtt %s: no such resource in Resources", id)
		}
		switch attr {
		case "Arn":
			return fmt.Sprintf("arn:aws:dynamodb:%s:123456789012:table/%s", e.opts.Region, name), nil
		}
		return "", fmt.Errorf("Fn::GetAtt %s.%s: the simulator knows only Arn", id, attr)
	}
	return "", fmt.Errorf("%s: the simulator resolves only Ref and Fn::GetAtt", v)
}

// createResource creates one resource of the stack once (a later stack
// update keeps it, as CloudFormation does with an unchanged resource).
// DynamoDB tables are made in moto_server from their Properties; resources
// of other types are only named (IAM has nothing to simulate here).
func (e *Env) createResource(id string, r map[string]any) error {
	e.mu.Lock()
	_, done := e.resources[id]
	name := "awseb-" + e.opts.EnvironmentID + "-stack-" + id + "-EBSIM"
	e.mu.Unlock()
	if done {
		return nil
	}
	if r["Type"] == "AWS::DynamoDB::Table" {
		props, _ := r["Properties"].(map[string]any)
		if err := e.createTable(name, props); err != nil {
			return err
		}
	}
	e.mu.Lock()
	e.resources[id] = name
	e.mu.Unlock()
	return nil
}

func (e *Env) dynamo() (*dynamodb.Client, error) {
	e.mu.Lock()
	if e.moto == nil {
		m, err := motoserver.Start(context.Background())
		if err != nil {
			e.mu.Unlock()
			if motoserver.Skip(err) {
				e.t.Skipf("the bundle declares a DynamoDB table: %v", err)
			}
			return nil, err
		}
		e.moto = m
		e.ddb = faultproxy.New(m.URL)
		e.t.Cleanup(m.Close)
		e.t.Cleanup(e.ddb.Close)
	}
	m := e.moto
	e.mu.Unlock()
	cfg, err := m.Config(context.Background())
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg), nil
}

// createTable makes the table CloudFormation would from the resource's
// Properties: keys, attribute definitions, indexes, billing mode, TTL.
func (e *Env) createTable(name string, p map[string]any) error {
	var spec struct {
		BillingMode            string
		AttributeDefinitions   []struct{ AttributeName, AttributeType string }
		KeySchema              []struct{ AttributeName, KeyType string }
		GlobalSecondaryIndexes []struct {
			IndexName  string
			KeySchema  []struct{ AttributeName, KeyType string }
			Projection struct{ ProjectionType string }
		}
		TimeToLiveSpecification *struct {
			AttributeName string
			Enabled       bool
		}
	}
	js, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(js, &spec); err != nil {
		return err
	}
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: ddbtypes.BillingMode(spec.BillingMode)}
	for _, a := range spec.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String(a.AttributeName), AttributeType: ddbtypes.ScalarAttributeType(a.AttributeType)})
	}
	keys := func(ks []struct{ AttributeName, KeyType string }) []ddbtypes.KeySchemaElement {
		var out []ddbtypes.KeySchemaElement
		for _, k := range ks {
			out = append(out, ddbtypes.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: ddbtypes.KeyType(k.KeyType)})
		}
		return out
	}
	in.KeySchema = keys(spec.KeySchema)
	for _, g := range spec.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(g.IndexName), KeySchema: keys(g.KeySchema),
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(g.Projection.ProjectionType)},
		})
	}
	c, err := e.dynamo()
	if err != nil {
		return err
	}
	ctx, cancel := ctxFor(e.t)
	defer cancel()
	if _, err := c.CreateTable(ctx, in); err != nil {
		return err
	}
	if ttl := spec.TimeToLiveSpecification; ttl != nil {
		_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(name),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(ttl.AttributeName), Enabled: aws.Bool(ttl.Enabled)}})
		if err != nil {
			return err
		}
	}
	return nil
}
