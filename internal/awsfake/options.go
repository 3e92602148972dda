package awsfake

import (
	"log/slog"
	"time"
)

// Option configures an [EC2] or an [IMDS] emulator. Each option says which
// emulator it applies to; the other one ignores it.
type Option func(*options)

type options struct {
	clock     func() time.Time
	region    string
	seed      uint64
	seeded    bool
	accountID string
	accessKey string
	secretKey string
	logger    *slog.Logger
	instance  *Instance
}

func buildOptions(opts []Option) options {
	o := options{
		clock:     time.Now,
		region:    "us-east-1",
		accountID: "123456789012",
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithClock sets the clock used for launch times, token expiry, the
// consistency lag and the visibility of terminated instances (both
// emulators). The default is time.Now.
func WithClock(clock func() time.Time) Option {
	return func(o *options) { o.clock = clock }
}

// WithRegion sets the Region the EC2 emulator serves (default us-east-1):
// requests signed for another Region are refused, as AWS refuses them.
func WithRegion(region string) Option {
	return func(o *options) { o.region = region }
}

// WithSeed makes the EC2 emulator's instance, reservation and request ids
// and its result order deterministic.
func WithSeed(seed uint64) Option {
	return func(o *options) { o.seed, o.seeded = seed, true }
}

// WithAccountID sets the account id shown as reservation owner (EC2) and in
// the identity document (IMDS). The default is 123456789012.
func WithAccountID(id string) Option {
	return func(o *options) { o.accountID = id }
}

// WithCredentials makes the EC2 emulator verify each request's SigV4
// signature against this key pair, and refuse any other access key.
// Without it, only the form and the scope of the Authorization header are
// checked.
func WithCredentials(accessKeyID, secretAccessKey string) Option {
	return func(o *options) { o.accessKey, o.secretKey = accessKeyID, secretAccessKey }
}

// WithLogger logs every request at debug level (both emulators).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithInstance fills the IMDS identity document from an instance of the EC2
// emulator: availability zone, image, type, private IP and launch time.
func WithInstance(inst Instance) Option {
	return func(o *options) { o.instance = &inst }
}
