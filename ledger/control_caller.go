package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Caller returns who the AWS credentials of cfg belong to (the caller's
// ARN), with one STS GetCallerIdentity: the actor every control records.
// The call needs no permission, so an error means no usable credentials
// (78) or no answer (75).
func Caller(ctx context.Context, cfg aws.Config) (string, error) {
	// A method value, not the client: see dynamoAPI.
	get := sts.NewFromConfig(cfg).GetCallerIdentity
	out, err := get(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		var ae smithy.APIError
		switch {
		case ctx.Err() != nil:
			return "", tempFail(fmt.Errorf("ledger: STS GetCallerIdentity did not answer: %w", context.Cause(ctx)), "nothing was written; retry later")
		case errors.As(err, &ae) && (strings.HasPrefix(ae.ErrorCode(), "InvalidClientTokenId") || ae.ErrorCode() == "SignatureDoesNotMatch" ||
			ae.ErrorCode() == "ExpiredToken" || strings.HasPrefix(ae.ErrorCode(), "AccessDenied")):
			return "", configErr(fmt.Errorf("ledger: STS does not know these credentials (%s): %s", ae.ErrorCode(), flatten(ae.ErrorMessage())),
				"nothing was written; log in again (aws sso login, or fresh AWS_* credentials)")
		case strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "no EC2 IMDS role found"):
			return "", configErr(fmt.Errorf("ledger: no AWS credentials: %s", flatten(err.Error())),
				"nothing was written; a control records who gave it: set AWS_PROFILE or AWS_* credentials")
		}
		return "", tempFail(fmt.Errorf("ledger: STS GetCallerIdentity: %s", flatten(err.Error())), "nothing was written; retry later")
	}
	return aws.ToString(out.Arn), nil
}
