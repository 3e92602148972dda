package awsfake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
)

const (
	testAccessKey = "AKIDLEADERGATETEST"
	testSecretKey = "leadergate/test/secret"
)

func newFakeClock() *clocktest.Manual {
	return clocktest.New(time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC))
}

// newEC2 starts an emulator that verifies signatures made with the test
// credentials, and closes it at the end of the test.
func newEC2(t testing.TB, opts ...awsfake.Option) *awsfake.EC2 {
	t.Helper()
	opts = append([]awsfake.Option{awsfake.WithCredentials(testAccessKey, testSecretKey), awsfake.WithSeed(1)}, opts...)
	e := awsfake.NewEC2(opts...)
	t.Cleanup(e.Close)
	return e
}

// fastRetries is the SDK's standard retryer with short backoffs, so tests
// that exercise retries do not sleep for seconds.
func fastRetries(attempts int) func(*ec2.Options) {
	return func(o *ec2.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.Backoff = retry.NewExponentialJitterBackoff(10 * time.Millisecond)
		})
	}
}

// newClient is the real SDK client pointed at the emulator.
func newClient(e *awsfake.EC2, optFns ...func(*ec2.Options)) *ec2.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
	}
	optFns = append([]func(*ec2.Options){func(o *ec2.Options) { o.BaseEndpoint = aws.String(e.URL()) }}, optFns...)
	return ec2.NewFromConfig(cfg, optFns...)
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// apiCode is the EC2 error code of err, "" if it has none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of the answer that made err, 0 if none.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
