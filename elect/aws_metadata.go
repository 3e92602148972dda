package elect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// maxMetadata bounds one metadata answer: the lifecycle documents are a few
// dozen bytes.
const maxMetadata = 4 << 10

// Metadata reads one IMDS path under latest/meta-data/ (IMDSv2 only, like
// the identity). found is false on a 404: the lifecycle paths are absent
// until they apply.
func (a *AWS) Metadata(ctx context.Context, path string) (value string, found bool, err error) {
	out, err := a.imdsClient().GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		var status interface{ HTTPStatusCode() int }
		if errors.As(err, &status) && status.HTTPStatusCode() == http.StatusNotFound {
			return "", false, nil
		}
		return "", false, fmt.Errorf("read IMDS %s: %w", path, oneLine{err})
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, maxMetadata))
	if err != nil {
		return "", false, fmt.Errorf("read IMDS %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), true, nil
}
