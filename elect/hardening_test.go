package elect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/exitcode"

	"github.com/leadergate/leadergate/internal/clock"
)

// These tests try to make leadergate act on state it must not trust, or
// write where it must not, the way a careless or hostile neighbour on the
// same instance could.

// hardElector is an elector for self with a strict fleet (i-elder leads),
// its marker outside the state dir.
func hardElector(t *testing.T, dir string) (*Elector, *fzFleet) {
	t.Helper()
	fleet := &fzFleet{t: t}
	return &Elector{
		Identity: fixedSelf(fzSelf),
		Fleet:    fleet,
		Store:    &Store{Dir: dir},
		Config: Config{
			GroupTags: DefaultGroupTags(),
			Marker:    Marker{Path: filepath.Join(t.TempDir(), "marker")},
			MaxAge:    20 * time.Second,
			Timeout:   5 * time.Second,
		},
		Clock:  clock.Func(func() time.Time { return fzNow }),
		Logger: slog.New(slog.DiscardHandler),
	}, fleet
}

// plantedLeaderVerdict is a fresh, well-formed verdict that makes fzSelf
// leader, as an attacker would write it.
func plantedLeaderVerdict(t *testing.T, path string) {
	t.Helper()
	b := fmt.Appendf(nil, `{"format":1,"self":%q,"leader":true,"leader_id":%q,"group_key":%q,"group":%q,"candidates":1,"at":%q,"reason":"planted"}`,
		fzSelf, fzSelf, TagEnvironmentID, fzGroup, fzNow.Add(-time.Second).Format(time.RFC3339Nano))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// modeOf describes a Stat result for a failure message.
func modeOf(fi fs.FileInfo, err error) string {
	if err != nil {
		return err.Error()
	}
	return fi.Mode().String()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file owned by another user")
	}
}

// chownNobody gives path to the nobody user.
func chownNobody(t *testing.T, path string) int {
	t.Helper()
	requireRoot(t)
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no nobody user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if err := os.Lchown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
	return uid
}

func TestHardenMarkerIsNotRedirectedThroughSymlinks(t *testing.T) {
	elsewhere := t.TempDir()
	victim := filepath.Join(elsewhere, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(elsewhere, "created-through-a-dangling-link")
	cases := []struct {
		name   string
		target string
	}{
		{"symlink to a file of someone else", victim},
		{"dangling symlink", absent},
		{"symlink to a directory", elsewhere},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := Marker{Path: filepath.Join(t.TempDir(), "leader-manager-is-leader")}
			if err := os.Symlink(c.target, m.Path); err != nil {
				t.Fatal(err)
			}
			if err := m.Set(true, "i-a\n"); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(m.Path)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
				t.Fatalf("marker after Set(true): %v; want a regular 0644 file in place of the link", modeOf(fi, err))
			}
			if b, _ := os.ReadFile(m.Path); string(b) != "i-a\n" {
				t.Errorf("marker holds %q", b)
			}
			if err := os.Symlink(c.target, m.Path+".2"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(m.Path+".2", m.Path); err != nil {
				t.Fatal(err)
			}
			if err := m.Set(false, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(m.Path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("follower kept the marker link: %v", err)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "keep\n" {
				t.Errorf("the link's target changed: %q, %v", b, err)
			}
			if _, err := os.Lstat(absent); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a file was created through the dangling link: %v", err)
			}
			if fi, err := os.Stat(elsewhere); err != nil || !fi.IsDir() {
				t.Errorf("the linked directory is gone: %v", err)
			}
		})
	}
}

// The marker is written through os.CreateTemp in its own directory. Names of
// temp files are predictable in form (".NAME.tmp" + digits), so a neighbour
// who can write that directory could plant symlinks under such names: the
// write must create a new file (O_EXCL), never open a planted link.
func TestHardenMarkerTempFileNamesAreNotFollowed(t *testing.T) {
	dir := t.TempDir()
	m := Marker{Path: filepath.Join(dir, "leader-manager-is-leader")}
	elsewhere := t.TempDir()
	victim := filepath.Join(elsewhere, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The mechanism: an exclusive create on a planted link fails and
	// creates nothing where it points, dangling or not.
	probe := filepath.Join(dir, ".leader-manager-is-leader.tmp42")
	dangling := filepath.Join(elsewhere, "probe-target")
	if err := os.Symlink(dangling, probe); err != nil {
		t.Fatal(err)
	}
	if f, err := os.OpenFile(probe, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); !errors.Is(err, fs.ErrExist) {
		f.Close()
		t.Fatalf("exclusive create over a planted link: %v, want EEXIST", err)
	}
	if _, err := os.Lstat(dangling); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("exclusive create wrote through the link: %v", err)
	}

	// Plant many links under temp-file names, then publish repeatedly.
	var planted []string
	for i := range 500 {
		name := filepath.Join(dir, ".leader-manager-is-leader.tmp"+strconv.FormatUint(uint64(i)*2147483+uint64(time.Now().UnixNano()%1000), 10))
		target := victim
		if i%2 == 1 {
			target = filepath.Join(elsewhere, "dangling-"+strconv.Itoa(i))
		}
		if err := os.Symlink(target, name); err == nil {
			planted = append(planted, name)
		}
	}
	for i := range 100 {
		if err := m.Set(i%2 == 0, "i-a\n"); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Errorf("a planted link's target was written: %q", b)
	}
	ents, _ := os.ReadDir(elsewhere)
	if len(ents) != 1 {
		t.Errorf("files appeared next to the victim through dangling links: %v", ents)
	}
	for _, p := range planted {
		if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("planted link %s was replaced or removed: %v", p, err)
		}
	}
	if _, err := os.Lstat(m.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("marker after a final Set(false): %v", err)
	}
}

func TestHardenMarkerIsNeverWorldWritable(t *testing.T) {
	// Not parallel: the umask is the process's.
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	m := Marker{Path: filepath.Join(t.TempDir(), "leader-manager-is-leader")}
	if err := m.Set(true, "i-a\n"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(m.Path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("new marker with umask 0: %v; want mode 0644", modeOf(fi, err))
	}

	// A world-writable file left at the path (by the legacy script, say)
	// is replaced, not adopted.
	if err := os.Remove(m.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.Path, []byte("legacy\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(true, "i-a\n"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		t.Fatalf("marker kept with mode %v; want it writable by its owner only", fi.Mode())
	}
}

func TestHardenStateDirOwnedByAnotherUserIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	plantedLeaderVerdict(t, filepath.Join(dir, verdictFile))
	uid := chownNobody(t, dir)

	e, fleet := hardElector(t, dir)
	if _, ok := e.Store.Load(); ok {
		t.Error("verdict trusted from a state dir of another user")
	}
	v, err := e.Decide(context.Background(), Request{})
	if CannotTell(err) != exitcode.Config || !strings.Contains(err.Error(), fmt.Sprintf("owned by uid %d", uid)) || !strings.Contains(err.Error(), "do not chown it") {
		t.Fatalf("Decide = %+v, %v; want exit 78 naming the owner and the fix", v, err)
	}
	if fleet.calls != 0 {
		t.Errorf("elected (%d calls) despite an untrusted state dir", fleet.calls)
	}
}

func TestHardenSymlinkedStateDirIsRefused(t *testing.T) {
	theirs := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(theirs, 0o700); err != nil {
		t.Fatal(err)
	}
	plantedLeaderVerdict(t, filepath.Join(theirs, verdictFile))
	if os.Geteuid() == 0 {
		chownNobody(t, theirs)
	}
	link := filepath.Join(t.TempDir(), "state")
	if err := os.Symlink(theirs, link); err != nil {
		t.Fatal(err)
	}
	e, fleet := hardElector(t, link)
	if _, ok := e.Store.Load(); ok {
		t.Error("verdict trusted through a symlinked state dir")
	}
	_, err := e.Decide(context.Background(), Request{})
	if CannotTell(err) != exitcode.Config || !strings.Contains(err.Error(), "--state-dir") {
		t.Fatalf("Decide: %v; want exit 78 pointing at --state-dir", err)
	}
	if fleet.calls != 0 {
		t.Errorf("elected (%d calls) in a symlinked state dir", fleet.calls)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

// A state file is trusted only when it is a regular file of this user that
// nobody else can write, whatever sits at its name.
func TestHardenStateFilesAreNotFollowedOrTrustedFromOthers(t *testing.T) {
	elsewhere := t.TempDir()
	planted := filepath.Join(elsewhere, "planted.json")
	plantedLeaderVerdict(t, planted)

	cases := []struct {
		name  string
		plant func(t *testing.T, path string)
	}{
		{"symlink to a planted verdict", func(t *testing.T, path string) {
			if err := os.Symlink(planted, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"verdict writable by others", func(t *testing.T, path string) {
			plantedLeaderVerdict(t, path)
			if err := os.Chmod(path, 0o666); err != nil {
				t.Fatal(err)
			}
		}},
		{"verdict owned by another user", func(t *testing.T, path string) {
			requireRoot(t)
			plantedLeaderVerdict(t, path)
			os.Chmod(path, 0o600)
			chownNobody(t, path)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			c.plant(t, filepath.Join(dir, verdictFile))
			e, fleet := hardElector(t, dir)
			if v, ok := e.Store.Load(); ok {
				t.Fatalf("planted verdict trusted: %+v", v)
			}
			v, err := e.Decide(context.Background(), Request{})
			if err != nil || v.Leader || v.LeaderID != "i-elder" || fleet.calls == 0 {
				t.Fatalf("Decide = %+v, %v after %d calls; want an election that makes this instance a follower", v, err, fleet.calls)
			}
			if fi, err := os.Lstat(planted); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("the planted file was touched: %v", err)
			}
		})
	}

	// The group cache, redirected to another group, is not followed either.
	dir := t.TempDir()
	other := filepath.Join(elsewhere, "group.json")
	os.WriteFile(other, fmt.Appendf(nil, `{"format":1,"instance":%q,"key":%q,"value":"e-attacker"}`, fzSelf, TagEnvironmentID), 0o644)
	if err := os.Symlink(other, filepath.Join(dir, groupFile)); err != nil {
		t.Fatal(err)
	}
	if k, v, ok := (&Store{Dir: dir}).group(fzSelf); ok {
		t.Errorf("group %s=%s read through a symlink", k, v)
	}
}

// A fifo, a device or a huge file at a state file's name must neither block
// leadergate nor make it read without end.
func TestHardenOddStateFilesDoNotBlock(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, path string)
	}{
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}},
		{"symlink to /dev/zero", func(t *testing.T, path string) {
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}},
		{"8 MiB file", func(t *testing.T, path string) {
			b := bytes.Repeat([]byte(" "), 8<<20)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range []string{verdictFile, failureFile, groupFile} {
				c.plant(t, filepath.Join(dir, name))
			}
			e, fleet := hardElector(t, dir)
			done := make(chan error, 1)
			go func() {
				_, err := e.Decide(context.Background(), Request{})
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil || fleet.calls == 0 {
					t.Fatalf("Decide: %v after %d calls; want a fresh election", err, fleet.calls)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Decide blocked on an odd state file")
			}
		})
	}
}

func TestHardenReadOnlyStateDirFailsClosed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// chmod does not stop root; an immutable directory does.
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			t.Skipf("as root, a read-only state dir needs chattr +i: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	} else if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	} else {
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
	}
	e, fleet := hardElector(t, dir)
	e.Config.Marker.Set(true, "stale\n")
	_, err := e.Decide(context.Background(), Request{})
	if CannotTell(err) != exitcode.Config || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "state dir") {
		t.Fatalf("Decide in a read-only state dir: %v; want exit 78, one line naming the state dir", err)
	}
	if fleet.calls != 0 {
		t.Errorf("elected (%d calls) without a place to keep the verdict", fleet.calls)
	}
	if _, err := os.Lstat(e.Config.Marker.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("marker kept after a failed decision: %v", err)
	}
}

// The SDK logs through the elector's logger at debug level (as -v shows);
// neither that log nor any error may carry the credentials.
func TestHardenNoSecretsInLogsOrErrors(t *testing.T) {
	const secret, token = "supersecret-value", "token-value"
	ec2 := awsfake.NewEC2(awsfake.WithSeed(11))
	defer ec2.Close()
	self := ec2.Launch(awsfake.LaunchSpec{Tags: map[string]string{TagEnvironmentID: "e-1"}, LaunchTime: time.Now().Add(-time.Hour)})
	ec2.Launch(awsfake.LaunchSpec{Tags: map[string]string{TagEnvironmentID: "e-1"}, LaunchTime: time.Now().Add(-2 * time.Hour)})
	imds := awsfake.NewIMDS(self.ID, ec2.Region(), awsfake.WithInstance(self))
	defer imds.Close()

	// A front that makes the SDK talk: an unparsable Date header is logged
	// on every response, an invalid retry-after on throttled ones.
	var requests atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Date", "not a date, "+strconv.Itoa(int(requests.Load())))
		w.Header().Set("x-amz-retry-after", "soon")
		ec2.ServeHTTP(w, r)
	}))
	defer front.Close()

	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                 "AKIDHARDENING",
		"AWS_SECRET_ACCESS_KEY":             secret,
		"AWS_SESSION_TOKEN":                 token,
		"AWS_ENDPOINT_URL_EC2":              front.URL,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL(),
		"AWS_CONFIG_FILE":                   filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE":       filepath.Join(t.TempDir(), "none"),
	} {
		t.Setenv(k, v)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []string
	for _, fault := range []awsfake.FaultKind{0, awsfake.Throttle, awsfake.InternalError, awsfake.Unauthorized} {
		ec2.ClearFaults()
		if fault != 0 {
			ec2.Inject(awsfake.Fault{Kind: fault})
		}
		a := &AWS{Logger: log, LoadOptions: []func(*config.LoadOptions) error{
			// Faster retries; the credentials chain is the SDK's own.
			config.WithRetryer(func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 10 * time.Millisecond })
			}),
		}}
		e := &Elector{Identity: a, Fleet: a, Store: &Store{Dir: t.TempDir()}, Clock: clock.Real{}, Logger: log,
			Config: Config{GroupTags: DefaultGroupTags(), Marker: Marker{Path: filepath.Join(t.TempDir(), "m")}, Timeout: 10 * time.Second}}
		v, err := e.Decide(context.Background(), Request{Force: true})
		if (err == nil) != (fault == 0) {
			t.Fatalf("fault %v: Decide = %+v, %v", fault, v, err)
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	out := logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(logs.String(), "aws sdk:") {
		t.Fatalf("the SDK logged nothing, so this test proves nothing:\n%s", out)
	}
	for _, s := range []string{secret, token} {
		if strings.Contains(out, s) {
			t.Errorf("%q appears in the logs or errors:\n%s", s, out)
		}
	}
	if n := ec2.Calls("DescribeInstances"); n == 0 {
		t.Error("no DescribeInstances reached the emulator")
	}
	if !testing.Verbose() {
		return
	}
	t.Logf("%d requests; errors:\n%s", requests.Load(), strings.Join(errs, "\n"))
}

// A server that always answers with a next token must not keep
// DescribeInstances going until the deadline: a partial list would elect the
// wrong leader, and every instance would spend the account's API rate limit
// for the whole --timeout.
func TestHardenEndlessPaginationEnds(t *testing.T) {
	for _, c := range []struct {
		name string
		mode int
		max  int // requests before giving up
	}{
		{"same token every time", fzTokenRepeat, 3},
		{"two tokens in turn", fzTokenCycle, 4},
		{"a new token every time", fzTokenForever, 1001},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := &fzServer{}
			page, _ := program(2, nil, nil)
			srv.set(http.StatusOK, nil, page, c.mode, nil)
			ts := httptest.NewServer(srv)
			defer ts.Close()
			a := &AWS{Logger: slog.New(slog.DiscardHandler), region: "us-east-1", LoadOptions: []func(*config.LoadOptions) error{
				config.WithBaseEndpoint(ts.URL),
				config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "secret", "")),
				config.WithSharedConfigFiles([]string{}),
				config.WithSharedCredentialsFiles([]string{}),
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := a.Instances(ctx, Query{TagKey: TagEnvironmentID, TagValue: fzGroup, RunningOnly: true})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("Instances still paging 10 s after its deadline (%d requests)", srv.count())
			}
			n := srv.count()
			if err == nil {
				t.Fatalf("endless pagination accepted as a whole answer after %d requests", n)
			}
			if ctx.Err() != nil || n > c.max {
				t.Fatalf("Instances paged %d times, until %v; want an error after at most %d", n, err, c.max)
			}
			if CannotTell(err) != exitcode.TempFail || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line, exit 75", err)
			}
		})
	}
}
