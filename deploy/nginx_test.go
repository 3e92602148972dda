package deploy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const nginxRule = "../.platform/nginx/conf.d/elasticbeanstalk/leadergate.conf"

// nginxServer runs nginx with a configuration shaped like Elastic
// Beanstalk's on Amazon Linux 2 and 2023: a default server whose root is
// the application directory and which includes conf.d/elasticbeanstalk/*.conf,
// here the given files. It listens on a Unix socket of the test's own (a
// free TCP port picked for it could be taken by a parallel test before
// nginx binds it) and returns a GET of a path on it. It skips when nginx
// is missing, unless LEADERGATE_REQUIRE_NGINX=1 (CI).
func nginxServer(t *testing.T, docroot string, includes map[string]string) (fetch func(path string) (int, string)) {
	t.Helper()
	ngx, err := exec.LookPath("nginx")
	if err != nil {
		ngx, err = exec.LookPath("/usr/sbin/nginx")
	}
	if err != nil {
		msg := "nginx is not installed (apt-get install nginx): the web deny rule is not served"
		if os.Getenv("LEADERGATE_REQUIRE_NGINX") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	prefix := t.TempDir()
	ebDir := filepath.Join(prefix, "conf.d", "elasticbeanstalk")
	if err := os.MkdirAll(ebDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range includes {
		if err := os.WriteFile(filepath.Join(ebDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(prefix, "nginx.sock")
	user := ""
	if os.Geteuid() == 0 {
		// Workers would drop to nobody, who cannot enter the test's
		// 0700 temporary directories.
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
daemon off;
master_process off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen unix:%[3]s default_server;
        root %[4]s;
        # Include the Elastic Beanstalk generated locations
        include %[2]s/conf.d/elasticbeanstalk/*.conf;
    }
}
`, user, prefix, sock, docroot)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ngx, "-t", "-p", prefix, "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, ngx, "-p", prefix, "-c", confPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	t.Cleanup(client.CloseIdleConnections)
	fetch = func(path string) (int, string) {
		t.Helper()
		return getWith(t, client, "http://nginx"+path)
	}
	// Ready when it accepts a connection; a dead nginx ends the wait.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			return fetch
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			t.Fatalf("nginx exited: %v\n%s%s", err, stderr.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s in 30s", sock)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return getWith(t, &http.Client{Timeout: 10 * time.Second}, url)
}

func getWith(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A stand-in for the platform's own locations (the PHP platform's
// php.conf): every file in the root is served, as with document root "/".
const platformLocations = `location / {
    try_files $uri $uri/ =404;
}
`

// What a user would try: fetch the crontab and the binaries from the
// application's address. After the install they are not in the document
// root at all; with the shipped rule they are refused even when present.
func TestWebServerDoesNotServeSecrets(t *testing.T) {
	rule, err := os.ReadFile(nginxRule)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"/leader-jobs.cron", "/leader-jobs.root.cron", "/.leadergate/leadergate-linux-amd64", "/.leadergate/SHA256SUMS"}

	t.Run("after the install, the files are gone from the document root", func(t *testing.T) {
		f := newFixture(t)
		f.write(f.bundle+"/leader-jobs.root.cron", []byte("0 3 * * * /usr/bin/certbot renew\n"), 0o644)
		f.write(f.bundle+"/index.html", []byte("hello\n"), 0o644)
		// Before: the platform's nginx would hand them out.
		fetch := nginxServer(t, f.bundle, map[string]string{"php.conf": platformLocations})
		if code, body := fetch("/leader-jobs.cron"); code != http.StatusOK || !strings.Contains(body, "send-reminders") {
			t.Fatalf("the test server does not serve the bundle: %d %q", code, body)
		}
		f.mustRun()
		if code, _ := fetch("/index.html"); code != http.StatusOK {
			t.Errorf("GET /index.html = %d, want 200: the test server is broken", code)
		}
		for _, p := range secrets {
			if code, _ := fetch(p); code != http.StatusNotFound {
				t.Errorf("after the install GET %s = %d, want 404", p, code)
			}
		}
	})

	t.Run("with the shipped rule, present files are refused", func(t *testing.T) {
		docroot := t.TempDir()
		for _, p := range append(secrets, "/index.html", "/sub/leader-jobs.cron", "/notleader-jobs.cron.txt") {
			if err := os.MkdirAll(filepath.Dir(docroot+p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(docroot+p, []byte("DB_PASSWORD=secret\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fetch := nginxServer(t, docroot, map[string]string{"leadergate.conf": string(rule), "php.conf": platformLocations})
		for _, p := range append(secrets, "/sub/leader-jobs.cron", "/.leadergate/", "/.leadergate") {
			code, body := fetch(p)
			if code != http.StatusForbidden {
				t.Errorf("GET %s = %d, want 403", p, code)
			}
			if strings.Contains(body, "secret") {
				t.Errorf("GET %s handed out the file", p)
			}
		}
		for _, p := range []string{"/index.html", "/notleader-jobs.cron.txt"} {
			if code, _ := fetch(p); code != http.StatusOK {
				t.Errorf("GET %s = %d, want 200: the rule refuses more than leadergate's files", p, code)
			}
		}
	})
}
