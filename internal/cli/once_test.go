package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/leadergate/leadergate/internal/exitcode"
)

func TestOnceKeyIsTheVersionElasticBeanstalkDeploys(t *testing.T) {
	for _, c := range []struct {
		name, manifest, want string
		code                 int
	}{
		{"the label under the application's runtime sources, as AL2023 writes it",
			`{"RuntimeSources":{"shop":{"app-v42-2601":{"s3url":"https://s3.amazonaws.com/b/k"}}},"DeploymentId":7,"Serial":9}`, "app-v42-2601", 0},
		{"a VersionLabel field wins", `{"VersionLabel":"v43","RuntimeSources":{"shop":{"v42":{}}}}`, "v43", 0},
		{"no version at all", `{"RuntimeSources":{}}`, "", exitcode.Config},
		{"not JSON", `<html>`, "", exitcode.Config},
	} {
		path := filepath.Join(t.TempDir(), "app_version_manifest.json")
		if err := os.WriteFile(path, []byte(c.manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := appVersion(path)
		if got != c.want || exitcode.Of(err) != c.code {
			t.Errorf("%s: %q, %v (exit %d); want %q, exit %d", c.name, got, err, exitcode.Of(err), c.want, c.code)
		}
	}
}
