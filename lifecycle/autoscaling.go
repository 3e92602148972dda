package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"

	"github.com/leadergate/leadergate/elect"
)

// ErrDenied means the instance role may not change the protection.
var ErrDenied = errors.New("access denied")

// Identity and Fleet are what the Auto Scaling adapter needs of elect.AWS
// to find this instance's group: its id, and its aws:autoscaling:groupName
// tag (one DescribeInstances on itself, once).
type (
	Identity interface {
		Self(ctx context.Context) (elect.Self, error)
	}
	Fleet interface {
		Instances(ctx context.Context, q elect.Query) ([]elect.Instance, error)
	}
)

// ASG is the production Protector: autoscaling:SetInstanceProtection on
// this instance only. The Auto Scaling client is held as one method value:
// holding *autoscaling.Client would let kong's reflection keep all of its
// methods in the binary.
type ASG struct {
	Config   func(context.Context) (aws.Config, error) // elect.AWS.Config
	Identity Identity
	Fleet    Fleet

	mu       sync.Mutex
	protect  func(context.Context, *autoscaling.SetInstanceProtectionInput, ...func(*autoscaling.Options)) (*autoscaling.SetInstanceProtectionOutput, error)
	instance string
	group    string
}

var _ Protector = (*ASG)(nil)

func (a *ASG) setup(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.protect != nil {
		return nil
	}
	self, err := a.Identity.Self(ctx)
	if err != nil {
		return err
	}
	mine, err := a.Fleet.Instances(ctx, elect.Query{IDs: []string{self.InstanceID}})
	if err != nil {
		return fmt.Errorf("describe this instance to find its Auto Scaling group: %w", err)
	}
	group := ""
	for _, i := range mine {
		if i.ID == self.InstanceID {
			group = i.Tags[elect.TagASGName]
		}
	}
	if group == "" {
		return fmt.Errorf("instance %s has no %s tag: it is not in an Auto Scaling group, so --protect has nothing to protect", self.InstanceID, elect.TagASGName)
	}
	cfg, err := a.Config(ctx)
	if err != nil {
		return err
	}
	a.protect = autoscaling.NewFromConfig(cfg).SetInstanceProtection
	a.instance, a.group = self.InstanceID, group
	return nil
}

// SetProtected implements Protector.
func (a *ASG) SetProtected(ctx context.Context, on bool) error {
	if err := a.setup(ctx); err != nil {
		return err
	}
	_, err := a.protect(ctx, &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(a.group),
		InstanceIds:          []string{a.instance},
		ProtectedFromScaleIn: aws.Bool(on),
	})
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (strings.HasPrefix(ae.ErrorCode(), "AccessDenied") || ae.ErrorCode() == "UnauthorizedOperation") {
		return fmt.Errorf("SetInstanceProtection on %s in %s: %w (%s)", a.instance, a.group, ErrDenied, ae.ErrorCode())
	}
	return fmt.Errorf("SetInstanceProtection on %s in %s: %w", a.instance, a.group, err)
}
