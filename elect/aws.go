package elect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
)

// AWS is the production Identity and Fleet: IMDSv2 and the EC2 API through
// aws-sdk-go-v2. Nothing is loaded until the first call, so a cached verdict
// costs no SDK set-up. The SDK's own environment variables apply unchanged
// (AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_ENDPOINT_URL_EC2, credentials).
type AWS struct {
	// IMDSTimeout bounds the identity lookup: off EC2, the metadata address
	// does not answer, and the operator should hear so in seconds.
	IMDSTimeout time.Duration
	// IMDSEndpoint and LoadOptions override the SDK's defaults; the
	// simulator gives every simulated instance its own IMDS this way.
	IMDSEndpoint string
	LoadOptions  []func(*config.LoadOptions) error
	// Logger receives the SDK's own log lines at debug level, instead of
	// the SDK writing them to stderr, where cron would mail them.
	Logger *slog.Logger

	imdsOnce sync.Once
	imds     *imds.Client

	// The identity of an instance never changes: it is read once per
	// process, and the EC2 client's region comes from it.
	selfMu sync.Mutex
	self   Self

	cfgMu sync.Mutex
	cfg   *aws.Config

	ec2Mu  sync.Mutex
	ec2    *ec2API
	region string // the EC2 client's region when set; else the identity's
}

// ec2API holds the only EC2 calls leadergate makes, as method values.
// Holding *ec2.Client itself would let it reach an interface, and kong's
// reflective dispatch (reflect.Value.MethodByName) then makes the linker
// keep all of its ~2,400 methods: 44 MB instead of 14 MB.
type ec2API struct {
	describeInstances func(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	createTags        func(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	deleteTags        func(context.Context, *ec2.DeleteTagsInput, ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
}

var (
	_ Identity = (*AWS)(nil)
	_ Fleet    = (*AWS)(nil)
	_ SelfTags = (*AWS)(nil)
)

func (a *AWS) imdsClient() *imds.Client {
	a.imdsOnce.Do(func() {
		a.imds = imds.New(imds.Options{
			Endpoint: a.IMDSEndpoint,
			// IMDSv1 is off: a token is required, as Amazon Linux 2023 requires it.
			EnableFallback: aws.FalseTernary,
			HTTPClient: &http.Client{Transport: &http.Transport{
				DialContext:           (&net.Dialer{Timeout: time.Second}).DialContext,
				ResponseHeaderTimeout: time.Second,
			}},
			Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 2
				o.MaxBackoff = 200 * time.Millisecond
			}),
		})
	})
	return a.imds
}

// Self reads this instance's id and region from the IMDSv2 identity document.
func (a *AWS) Self(ctx context.Context) (Self, error) {
	a.selfMu.Lock()
	defer a.selfMu.Unlock()
	if a.self.InstanceID != "" {
		return a.self, nil
	}
	timeout := a.IMDSTimeout
	if timeout <= 0 {
		timeout = 2500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	doc, err := a.imdsClient().GetInstanceIdentityDocument(ctx, nil)
	if err != nil {
		return Self{}, tempFail(fmt.Errorf("%w: %w", ErrNoIdentity, oneLine{err}),
			"not on EC2, or IMDS unreachable (in a container, raise the hop limit to 2)")
	}
	if doc.InstanceID == "" || doc.Region == "" {
		return Self{}, tempFail(errors.New("IMDS identity document has no instance id or region"), "")
	}
	a.self = Self{InstanceID: doc.InstanceID, Region: doc.Region}
	return a.self, nil
}

// client builds the EC2 calls once. A failure is not kept: a long-running
// scheduler tries again next time.
func (a *AWS) client(ctx context.Context) (*ec2API, error) {
	a.ec2Mu.Lock()
	defer a.ec2Mu.Unlock()
	if a.ec2 != nil {
		return a.ec2, nil
	}
	cfg, err := a.Config(ctx)
	if err != nil {
		return nil, err
	}
	c := ec2.NewFromConfig(cfg)
	a.ec2 = &ec2API{describeInstances: c.DescribeInstances, createTags: c.CreateTags, deleteTags: c.DeleteTags}
	return a.ec2, nil
}

// Config loads the SDK config once, in the region of this instance, with
// the instance role's credentials read through the token-only IMDS client.
// Other adapters (Auto Scaling for --protect, the ledger's DynamoDB) build
// their calls from it, so that every client of the process shares one
// hardened configuration: no IMDSv1 fallback, the SDK's log lines at debug
// level instead of on stderr (where cron would mail them), bounded retries.
func (a *AWS) Config(ctx context.Context) (aws.Config, error) { return a.ConfigIn(ctx, "") }

// ConfigIn is Config in region; "" means this instance's, read from IMDS.
// Off EC2 (history and ledger create from a laptop) a region given here
// spares the IMDS lookup that would fail.
func (a *AWS) ConfigIn(ctx context.Context, region string) (aws.Config, error) {
	if region == "" {
		region = a.region
	}
	if region == "" {
		self, err := a.Self(ctx)
		if err != nil {
			return aws.Config{}, err
		}
		region = self.Region
	}
	a.cfgMu.Lock()
	defer a.cfgMu.Unlock()
	if a.cfg == nil {
		cfg, err := config.LoadDefaultConfig(ctx, append([]func(*config.LoadOptions) error{
			// The instance role's credentials come from IMDS too: the same
			// token-only client, never the SDK's IMDSv1 fallback.
			config.WithEC2RoleCredentialOptions(func(o *ec2rolecreds.Options) { o.Client = a.imdsClient() }),
			config.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
				if a.Logger != nil {
					a.Logger.Debug("aws sdk: "+fmt.Sprintf(format, v...), "classification", string(c))
				}
			})),
			config.WithRetryer(func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 2 * time.Second })
			}),
		}, a.LoadOptions...)...)
		if err != nil {
			return aws.Config{}, configErr(fmt.Errorf("load AWS configuration: %w", err), "check AWS_* variables and ~/.aws/config")
		}
		a.cfg = &cfg
	}
	cfg := *a.cfg
	cfg.Region = region
	return cfg, nil
}

// maxPages bounds one listing: 1,000 pages of 1,000 instances is more than
// any group, and a broken endpoint must not page forever.
const maxPages = 1000

// Instances implements Fleet with one paginated, server-side filtered
// DescribeInstances.
func (a *AWS) Instances(ctx context.Context, q Query) ([]Instance, error) {
	if len(q.IDs) == 0 && q.TagKey == "" {
		return nil, errors.New("refusing to describe every instance of the region")
	}
	c, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	in := &ec2.DescribeInstancesInput{}
	if len(q.IDs) > 0 {
		in.InstanceIds = q.IDs // MaxResults cannot be combined with InstanceIds
	} else {
		in.MaxResults = aws.Int32(1000)
	}
	if q.TagKey != "" {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String("tag:" + q.TagKey), Values: []string{q.TagValue}})
	}
	if q.RunningOnly {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String("instance-state-name"), Values: []string{"running"}})
	}
	// Our own loop rather than the SDK's paginator: a token seen before
	// means the pages would never end, and a partial list would elect the
	// wrong leader, so it is an error, not the end.
	var out []Instance
	seen := map[string]bool{}
	for {
		page, err := c.describeInstances(ctx, in)
		if err != nil {
			return nil, classify(ctx, err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				// Without an id or a launch time an instance cannot be
				// ranked; a zero time would even make it the leader.
				if aws.ToString(i.InstanceId) == "" || i.LaunchTime == nil || i.LaunchTime.IsZero() {
					return nil, tempFail(errors.New("DescribeInstances returned an instance without an id or a launch time"), "retry later")
				}
				out = append(out, fromSDK(i))
			}
		}
		next := aws.ToString(page.NextToken)
		if next == "" {
			break
		}
		if seen[next] || len(seen) >= maxPages {
			return nil, tempFail(fmt.Errorf("DescribeInstances kept paging (%d pages, token repeated: %t)", len(seen)+1, seen[next]), "retry later")
		}
		seen[next] = true
		in.NextToken = &next
	}
	return out, nil
}

// Tag implements Fleet with one CreateTags on one instance.
func (a *AWS) Tag(ctx context.Context, id, key, value string) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	_, err = c.createTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{id},
		Tags:      []types.Tag{{Key: aws.String(key), Value: aws.String(value)}},
	})
	if err != nil {
		return classify(ctx, err)
	}
	return nil
}

// SetTags implements SelfTags with one CreateTags on one instance.
func (a *AWS) SetTags(ctx context.Context, id string, tags map[string]string) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	in := &ec2.CreateTagsInput{Resources: []string{id}}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	if _, err := c.createTags(ctx, in); err != nil {
		return classify(ctx, err)
	}
	return nil
}

// DeleteTags implements SelfTags with one DeleteTags on one instance. Keys
// are deleted whatever their value; an absent key is not an error.
func (a *AWS) DeleteTags(ctx context.Context, id string, keys ...string) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	in := &ec2.DeleteTagsInput{Resources: []string{id}}
	for _, k := range keys {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k)})
	}
	if _, err := c.deleteTags(ctx, in); err != nil {
		return classify(ctx, err)
	}
	return nil
}

func fromSDK(i types.Instance) Instance {
	out := Instance{ID: aws.ToString(i.InstanceId), LaunchTime: aws.ToTime(i.LaunchTime), Tags: make(map[string]string, len(i.Tags))}
	if i.State != nil {
		out.State = string(i.State.Name)
	}
	for _, t := range i.Tags {
		out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// classify gives an SDK error its exit code: permission problems will not
// fix themselves (78); throttling, 5xx and timeouts are temporary (75).
func classify(ctx context.Context, err error) error {
	err = oneLine{err}
	if ctx.Err() != nil {
		return tempFail(fmt.Errorf("EC2: %w", context.Cause(ctx)), "retry later or raise --timeout")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case code == "UnauthorizedOperation" || code == "AuthFailure" || strings.HasPrefix(code, "AccessDenied") ||
			code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch" || code == "OptInRequired":
			return configErr(fmt.Errorf("EC2 refused the call (%s): %s", code, flatten(ae.ErrorMessage())),
				"attach the policy printed by `leadergate iam-policy` to the instance role")
		case code == "RequestLimitExceeded" || code == "Throttling":
			return tempFail(fmt.Errorf("EC2 API throttled (%s)", code),
				"other callers share the account's rate limit; retry later or raise --max-age")
		default:
			return tempFail(fmt.Errorf("EC2 error %s: %s", flatten(code), flatten(ae.ErrorMessage())), "retry later")
		}
	}
	// No answer at all: the endpoint, the network or a proxy, not the API.
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return tempFail(fmt.Errorf("EC2 endpoint not found: %w", err),
			"check DNS and AWS_ENDPOINT_URL_EC2 if set; a private subnet needs a NAT gateway or an ec2 VPC endpoint")
	case errors.As(err, &op):
		return tempFail(fmt.Errorf("EC2 endpoint unreachable: %w", err),
			"check the network path to EC2 (security group egress, NAT gateway or an ec2 VPC endpoint) and AWS_ENDPOINT_URL_EC2 if set; retry later")
	}
	return tempFail(err, "retry later")
}

// oneLine keeps an SDK error whole for errors.As and prints it on one line:
// deserialization errors and server messages can span several, and an
// operator reads one stderr line per failure.
type oneLine struct{ error }

func (e oneLine) Error() string { return flatten(e.error.Error()) }
func (e oneLine) Unwrap() error { return e.error }

func flatten(s string) string { return strings.Join(strings.Fields(s), " ") }
