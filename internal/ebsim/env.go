package ebsim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
	"github.com/leadergate/leadergate/internal/motoserver"
)

// TagEnvironmentID is the tag Elastic Beanstalk puts on its instances
// (the same as elect.TagEnvironmentID, spelt out so the rig does not
// depend on the code it tests).
const TagEnvironmentID = "elasticbeanstalk:environment-id"

// Options configure an [Env].
type Options struct {
	// Binary is the leadergate release binary the bundles carry (required).
	Binary string
	// Repo is the leadergate repository: its .ebextensions/*.config go
	// into every bundle (required).
	Repo string
	// EnvironmentID is the environment id tag; default "e-ebsim".
	EnvironmentID string
	// Region of the instances; default us-east-1.
	Region string
	// Systemd is the version systemctl --version reports: 252 (Amazon
	// Linux 2023) by default, 219 for Amazon Linux 2.
	Systemd int
	// Properties are the environment properties set on the environment
	// (the console's "Environment properties"); the bundles' option_settings
	// add theirs under these (set here wins, as in Elastic Beanstalk).
	Properties map[string]string
}

// Env is one simulated Elastic Beanstalk environment.
type Env struct {
	t    testing.TB
	opts Options
	// EC2 is the EC2 emulator the instances elect with.
	EC2  *awsfake.EC2
	dir  string
	user string
	arch string

	mu        sync.Mutex
	instances []*Instance // running, in launch order
	current   *Bundle     // the environment's application version
	props     map[string]string
	resources map[string]string // CloudFormation logical id → physical name
	moto      *motoserver.Moto
	ddb       *faultproxy.Proxy // in front of moto for the instances
	launched  int
	epoch     time.Time
}

// New makes an environment with no instances. Everything it starts is
// stopped when the test ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the deployment simulator runs Linux instances")
	}
	if os.Geteuid() != 0 {
		// install.sh installs root-owned crontabs and units, as on an instance.
		t.Skip("the deployment simulator runs install.sh as Elastic Beanstalk does: as root")
	}
	if opts.Binary == "" || opts.Repo == "" {
		t.Fatal("ebsim: Options.Binary and Options.Repo are required")
	}
	if opts.EnvironmentID == "" {
		opts.EnvironmentID = "e-ebsim"
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Systemd == 0 {
		opts.Systemd = 252
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	arch := "x86_64"
	if runtime.GOARCH == "arm64" {
		arch = "aarch64"
	}
	e := &Env{
		t:         t,
		opts:      opts,
		EC2:       awsfake.NewEC2(awsfake.WithRegion(opts.Region)),
		dir:       t.TempDir(),
		user:      u.Username,
		arch:      arch,
		props:     map[string]string{},
		resources: map[string]string{},
		epoch:     time.Now().Truncate(time.Second).Add(-time.Hour),
	}
	t.Cleanup(e.close)
	return e
}

func (e *Env) close() {
	e.mu.Lock()
	ins := slices.Clone(e.instances)
	e.mu.Unlock()
	for _, in := range ins {
		in.shutdown()
	}
	e.EC2.Close()
}

// Instances returns the environment's running instances, oldest first.
func (e *Env) Instances() []*Instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.instances)
}

// Current is the application version the environment runs (nil before
// the first deployment).
func (e *Env) Current() *Bundle {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.current
}

// DynamoDB returns the endpoint the instances use for DynamoDB and the
// physical name of the resource with this logical id (for example
// LeadergateLedger), or "" and "" before a bundle declared a table. The
// endpoint is a proxy in front of moto_server that makes DynamoDB calls
// one at a time (moto's conditional writes are not atomic under
// concurrency, real DynamoDB's are); [Env.DynamoDBProxy] injects faults.
func (e *Env) DynamoDB(logicalID string) (endpoint, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ddb == nil {
		return "", ""
	}
	return e.ddb.URL(), e.resources[logicalID]
}

// DynamoDBProxy is the proxy the instances reach DynamoDB through (nil
// before a bundle declared a table): faults, call counts.
func (e *Env) DynamoDBProxy() *faultproxy.Proxy {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ddb
}

// Properties returns the environment properties instances get.
func (e *Env) Properties() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.props)
}

// Launch starts n instances in the environment. With an application
// deployed, each deploys it, as an instance joining by scale-out or
// replacement does; Launch returns the first error.
func (e *Env) Launch(n int) ([]*Instance, error) {
	var out []*Instance
	for range n {
		out = append(out, e.launch())
	}
	cur := e.Current()
	if cur == nil {
		return out, nil
	}
	return out, each(out, func(in *Instance) error { return in.Deploy(*cur) })
}

func (e *Env) launch() *Instance {
	e.mu.Lock()
	e.launched++
	k := e.launched
	e.mu.Unlock()
	// Later launches are younger by a second, as a scale-out is.
	spec := awsfake.LaunchSpec{Tags: map[string]string{TagEnvironmentID: e.opts.EnvironmentID}, LaunchTime: e.epoch.Add(time.Duration(k) * time.Second)}
	ec2in := e.EC2.Launch(spec)
	in := newInstance(e, ec2in.ID, k)
	e.mu.Lock()
	e.instances = append(e.instances, in)
	e.mu.Unlock()
	return in
}

// Deploy deploys b to every instance at once (the "All at once" policy)
// and returns the instances' errors, joined.
func (e *Env) Deploy(b Bundle) error {
	if err := e.stack(b); err != nil {
		return err
	}
	err := each(e.Instances(), func(in *Instance) error { return in.Deploy(b) })
	e.setCurrent(b)
	return err
}

// Rolling deploys b in batches of size instances ("Rolling"): old and new
// versions run side by side until the last batch. between, when not nil,
// is called after each batch but the last with the instances done so far.
// A batch that fails stops the deployment.
func (e *Env) Rolling(b Bundle, size int, between func(done []*Instance)) error {
	if err := e.stack(b); err != nil {
		return err
	}
	all := e.Instances()
	for i := 0; i < len(all); i += size {
		batch := all[i:min(i+size, len(all))]
		if err := each(batch, func(in *Instance) error { return in.Deploy(b) }); err != nil {
			return err
		}
		if between != nil && i+size < len(all) {
			between(all[:i+len(batch)])
		}
	}
	e.setCurrent(b)
	return nil
}

// Immutable deploys b on as many new instances as the environment has
// (same environment id, a temporary Auto Scaling group), then terminates
// the old ones, as the "Immutable" policy does. between, when not nil, is
// called once the new instances passed, before the old ones go. A new
// instance that fails its deployment fails it: the new ones are
// terminated, the old ones stay.
func (e *Env) Immutable(b Bundle, between func(old, new []*Instance)) error {
	if err := e.stack(b); err != nil {
		return err
	}
	old := e.Instances()
	var fresh []*Instance
	for range max(len(old), 1) {
		fresh = append(fresh, e.launch())
	}
	if err := each(fresh, func(in *Instance) error { return in.Deploy(b) }); err != nil {
		for _, in := range fresh {
			in.Terminate()
		}
		return err
	}
	if between != nil {
		between(old, fresh)
	}
	for _, in := range old {
		in.Terminate()
	}
	e.setCurrent(b)
	return nil
}

// SetProperties changes environment properties (an empty value removes
// one) and runs a configuration deployment on every instance.
func (e *Env) SetProperties(kv map[string]string) error {
	e.mu.Lock()
	for k, v := range kv {
		if v == "" {
			delete(e.opts.Properties, k)
		} else {
			if e.opts.Properties == nil {
				e.opts.Properties = map[string]string{}
			}
			e.opts.Properties[k] = v
		}
	}
	e.mu.Unlock()
	if cur := e.Current(); cur != nil {
		if err := e.stack(*cur); err != nil {
			return err
		}
	}
	return each(e.Instances(), func(in *Instance) error { return in.ConfigDeploy() })
}

func (e *Env) setCurrent(b Bundle) {
	e.mu.Lock()
	e.current = &b
	e.mu.Unlock()
}

func (e *Env) remove(in *Instance) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.instances = slices.DeleteFunc(e.instances, func(x *Instance) bool { return x == in })
}

// each runs f on every instance at once and joins the errors.
func each(ins []*Instance, f func(*Instance) error) error {
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() { errs[i] = f(in) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Bundle is an application version: a directory holding the source bundle.
type Bundle struct {
	Label string
	Dir   string
}

// Bundle makes an application version labelled label: the repository's
// .ebextensions/*.config, the binary as .leadergate/leadergate-linux-<arch>,
// and files (path → content; "#!" makes it executable, "" removes it).
func (e *Env) Bundle(label string, files map[string]string) Bundle {
	e.t.Helper()
	dir := filepath.Join(e.dir, "bundles", label)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	configs, err := filepath.Glob(filepath.Join(e.opts.Repo, ".ebextensions", "*.config"))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range configs {
		data, err := os.ReadFile(c)
		if err != nil {
			e.t.Fatal(err)
		}
		writeFile(e.t, filepath.Join(dir, ".ebextensions", filepath.Base(c)), string(data), 0o644)
	}
	bin, err := os.ReadFile(e.opts.Binary)
	if err != nil {
		e.t.Fatal(err)
	}
	goarch := map[string]string{"x86_64": "amd64", "aarch64": "arm64"}[e.arch]
	writeFile(e.t, filepath.Join(dir, ".leadergate", "leadergate-linux-"+goarch), string(bin), 0o755)
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		path := filepath.Join(dir, name)
		if files[name] == "" {
			os.RemoveAll(path)
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(files[name], "#!") {
			mode = 0o755
		}
		writeFile(e.t, path, files[name], mode)
	}
	return Bundle{Label: label, Dir: dir}
}

// stack applies the bundle's environment-level configuration, as the
// environment's CloudFormation stack update does before instances deploy:
// Resources (DynamoDB tables are created in moto_server) and option
// settings (environment properties, with Ref and Fn::GetAtt resolved).
func (e *Env) stack(b Bundle) error {
	configs, err := readConfigs(b.Dir)
	if err != nil {
		return err
	}
	props := map[string]string{}
	for _, c := range configs {
		for _, id := range slices.Sorted(maps.Keys(c.Resources)) {
			if err := e.createResource(id, c.Resources[id]); err != nil {
				return fmt.Errorf("%s: Resources: %s: %w", c.name, id, err)
			}
		}
		for k, v := range c.Properties {
			rv, err := e.resolve(v)
			if err != nil {
				return fmt.Errorf("%s: option_settings: %s: %w", c.name, k, err)
			}
			props[k] = rv
		}
	}
	e.mu.Lock()
	maps.Copy(props, e.opts.Properties)
	e.props = props
	e.mu.Unlock()
	return nil
}

// envFile renders the environment properties as Elastic Beanstalk writes
// /opt/elasticbeanstalk/deployment/env: KEY=value lines, sorted.
func envFile(props map[string]string) string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, props[k])
	}
	return b.String()
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := writeFileErr(path, content, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFileErr(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// waitFor is how long a rig wait may take before the test fails: a bound
// on a hang, not a timing assertion.
const waitFor = 90 * time.Second

func ctxFor(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), waitFor)
}

// Items returns every item of the environment's DynamoDB table with this
// logical id, each attribute as a string (S and N values; others in Go
// syntax), for a test's checks of the ledger.
func (e *Env) Items(logicalID string) ([]map[string]string, error) {
	_, name := e.DynamoDB(logicalID)
	if name == "" {
		return nil, fmt.Errorf("no table %s in the environment", logicalID)
	}
	c, err := e.dynamo()
	if err != nil {
		return nil, err
	}
	ctx, cancel := ctxFor(e.t)
	defer cancel()
	var out []map[string]string
	var start map[string]ddbtypes.AttributeValue
	for {
		page, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: &name, ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			m := map[string]string{}
			for k, v := range it {
				switch v := v.(type) {
				case *ddbtypes.AttributeValueMemberS:
					m[k] = v.Value
				case *ddbtypes.AttributeValueMemberN:
					m[k] = v.Value
				default:
					m[k] = fmt.Sprintf("%v", v)
				}
			}
			out = append(out, m)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}
