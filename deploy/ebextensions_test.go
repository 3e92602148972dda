package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var updateEbextensions = flag.Bool("update-ebextensions", false, "rewrite the install script embedded in .ebextensions/*.config from deploy/install.sh")

const (
	installScript     = "install.sh"
	installPath       = "/opt/leadergate/install.sh" // where the configs write it
	serviceConfig     = "../.ebextensions/leadergate.config"
	cronConfigExample = "../.ebextensions/leadergate-cron.config.example"
)

var configs = []string{serviceConfig, cronConfigExample}

// embeddedBlock finds the literal block holding the install script in a
// config: the lines after "content: |" under the files: entry for
// installPath. It returns the line range [start, end) of the block's
// non-blank extent, its indentation and its text with the indentation
// removed, as a YAML parser reads it.
func embeddedBlock(config []byte) (lines []string, start, end int, indent string, text string, err error) {
	lines = strings.Split(string(config), "\n")
	entry := regexp.MustCompile(`^\s+` + regexp.QuoteMeta(installPath) + `:\s*$`)
	content := regexp.MustCompile(`^\s+content:\s*\|\s*$`)
	i := 0
	for ; i < len(lines) && !entry.MatchString(lines[i]); i++ {
	}
	for ; i < len(lines) && !content.MatchString(lines[i]); i++ {
	}
	if i == len(lines) {
		return nil, 0, 0, "", "", fmt.Errorf("no %q entry with \"content: |\"", installPath)
	}
	start = i + 1
	for j := start; j < len(lines); j++ {
		if l := lines[j]; strings.TrimSpace(l) != "" {
			indent = l[:len(l)-len(strings.TrimLeft(l, " "))]
			break
		}
	}
	if indent == "" {
		return nil, 0, 0, "", "", fmt.Errorf("empty content block for %s", installPath)
	}
	end = start
	for j := start; j < len(lines); j++ {
		l := lines[j]
		if strings.TrimSpace(l) == "" {
			continue
		}
		if !strings.HasPrefix(l, indent) {
			break
		}
		end = j + 1
	}
	var b strings.Builder
	for _, l := range lines[start:end] {
		b.WriteString(strings.TrimPrefix(l, indent))
		b.WriteByte('\n')
	}
	return lines, start, end, indent, b.String(), nil
}

func TestConfigsEmbedInstallScript(t *testing.T) {
	script, err := os.ReadFile(installScript)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasSuffix(script, []byte("\n\n")) || !bytes.HasSuffix(script, []byte("\n")) {
		t.Fatalf("%s must end in exactly one newline: a YAML literal block keeps only one", installScript)
	}
	for _, config := range configs {
		t.Run(filepath.Base(config), func(t *testing.T) {
			b, err := os.ReadFile(config)
			if err != nil {
				t.Fatal(err)
			}
			lines, start, end, indent, text, err := embeddedBlock(b)
			if err != nil {
				t.Fatalf("%s: %v", config, err)
			}
			if *updateEbextensions && text != string(script) {
				var block []string
				for _, l := range strings.Split(strings.TrimSuffix(string(script), "\n"), "\n") {
					if l == "" {
						block = append(block, "")
					} else {
						block = append(block, indent+l)
					}
				}
				out := append(append(append([]string{}, lines[:start]...), block...), lines[end:]...)
				if err := os.WriteFile(config, []byte(strings.Join(out, "\n")), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("rewrote the install script in %s", config)
				if b, err = os.ReadFile(config); err != nil {
					t.Fatal(err)
				}
				if _, _, _, _, text, err = embeddedBlock(b); err != nil {
					t.Fatal(err)
				}
			}
			if text != string(script) {
				t.Errorf("%s embeds an install script that differs from deploy/%s; run\n\tgo test ./deploy/ -run TestConfigsEmbedInstallScript -update-ebextensions", config, installScript)
			}
			// What a YAML parser, like Elastic Beanstalk's, reads must be
			// the same text, not just what this test's line splitter sees.
			doc := parseYAML(t, config)
			got, _ := dig(doc, "files", installPath, "content").(string)
			if got != string(script) {
				t.Errorf("%s: the YAML parser reads files[%s].content as a different text than deploy/%s (indentation or a tab?)", config, installPath, installScript)
			}
		})
	}
}

// parseYAML parses a file with python3's yaml module (no YAML module is in
// go.mod) and returns it as JSON values. It skips the test when python3 or
// its yaml module is missing, unless LEADERGATE_REQUIRE_PYYAML=1.
func parseYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	const prog = `import json, sys, yaml
with open(sys.argv[1]) as f:
    json.dump(yaml.safe_load(f), sys.stdout)`
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import yaml").Run()
	}
	if err != nil {
		msg := "python3 with the yaml module is needed to parse the configs (apt-get install python3-yaml)"
		if os.Getenv("LEADERGATE_REQUIRE_PYYAML") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(py, "-c", prog, path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s is not valid YAML: %v\n%s", path, err, stderr.Bytes())
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%s: top level is not a mapping: %v", path, err)
	}
	return doc
}

// dig walks nested mappings; nil when a key is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// The keys Elastic Beanstalk accepts at the top of a configuration file;
// anything else is a typo that would be ignored or rejected at deploy time.
var ebKeys = map[string]bool{
	"option_settings": true, "packages": true, "groups": true, "users": true, "sources": true,
	"files": true, "commands": true, "services": true, "container_commands": true, "Resources": true,
	"Outputs": true,
}

func TestConfigsAreElasticBeanstalkConfigs(t *testing.T) {
	modeRE := regexp.MustCompile(`^[0-7]{6}$`)
	for _, config := range configs {
		t.Run(filepath.Base(config), func(t *testing.T) {
			doc := parseYAML(t, config)
			for k := range doc {
				if !ebKeys[k] {
					t.Errorf("unknown top-level key %q", k)
				}
			}
			files, _ := doc["files"].(map[string]any)
			if files == nil {
				t.Fatal("no files: section")
			}
			for path, v := range files {
				f, _ := v.(map[string]any)
				if !strings.HasPrefix(path, "/") {
					t.Errorf("files: %q is not an absolute path", path)
				}
				// An unquoted 000755 is a YAML integer (octal or
				// decimal, by parser): the mode must be a string.
				if m, ok := f["mode"].(string); !ok || !modeRE.MatchString(m) {
					t.Errorf("files[%s].mode = %#v, want a quoted six-digit octal string", path, f["mode"])
				}
				if f["owner"] != "root" || f["group"] != "root" {
					t.Errorf("files[%s] owner:group = %v:%v, want root:root (root runs them)", path, f["owner"], f["group"])
				}
				if _, ok := f["content"].(string); !ok {
					t.Errorf("files[%s] has no content", path)
				}
			}
			if m, _ := dig(files, installPath, "mode").(string); m != "000755" {
				t.Errorf("%s mode = %q, want 000755 (it is executed)", installPath, m)
			}
			cmds, _ := doc["container_commands"].(map[string]any)
			if len(cmds) == 0 {
				t.Fatal("no container_commands: nothing would run the install script")
			}
			first := ""
			for name := range cmds {
				if first == "" || name < first { // they run in name order
					first = name
				}
			}
			if got := dig(cmds, first, "command"); got != installPath {
				t.Errorf("first container command %s runs %v, want %s", first, got, installPath)
			}
		})
	}
}

func TestServiceConfigRunsScheduler(t *testing.T) {
	doc := parseYAML(t, serviceConfig)
	if mode := dig(doc, "container_commands", "01_leadergate_install", "env", "LEADERGATE_MODE"); mode != nil && mode != "service" {
		t.Errorf("the service config installs in mode %v", mode)
	}
	if _, ok := dig(doc, "files").(map[string]any)["/etc/cron.d/leader-jobs"]; ok {
		t.Error("the service config writes cron lines too: jobs would run twice")
	}
}

func TestCronConfigExample(t *testing.T) {
	doc := parseYAML(t, cronConfigExample)
	if mode := dig(doc, "container_commands", "01_leadergate_install", "env", "LEADERGATE_MODE"); mode != "cron" {
		t.Errorf("install runs in mode %v, want cron (no scheduler service next to cron)", mode)
	}
	if mode := dig(doc, "files", "/etc/cron.d/leader-jobs", "mode"); mode != "000644" {
		// cronie ignores files in /etc/cron.d that group or others can write.
		t.Errorf("/etc/cron.d/leader-jobs mode = %v, want 000644", mode)
	}
	if _, ok := dig(doc, "packages", "yum", "cronie").([]any); !ok {
		t.Error("cronie is not installed: Amazon Linux 2023 has no cron daemon")
	}
	cron, _ := dig(doc, "files", "/etc/cron.d/leader-jobs", "content").(string)
	entries := cronEntries(t, cron)
	if len(entries) == 0 {
		t.Fatal("no cron entries")
	}
	gated := 0
	for _, e := range entries {
		if e.user != "webapp" {
			t.Errorf("%q runs as %s, want webapp, the application's user", e.line, e.user)
		}
		if strings.Contains(e.command, "leadergate run") {
			gated++
			if !regexp.MustCompile(`leadergate run( --?[a-z-]+(=\S+)?)* -- \S`).MatchString(e.command) {
				t.Errorf("%q: a leader-only line runs \"leadergate run [flags] -- COMMAND\"", e.line)
			}
		}
		if strings.Contains(e.command, "%") {
			t.Errorf("%q: cron turns an unescaped %% into a newline", e.line)
		}
	}
	if gated == 0 {
		t.Error("no example line is prefixed with leadergate run --")
	}
	if !strings.Contains(cron, "LEADERGATE_MARKER=/var/app/leader/leader-manager-is-leader") {
		t.Error("the cron lines do not keep the legacy marker path")
	}
	if !regexp.MustCompile(`(?m)^PATH=.*/usr/local/bin`).MatchString(cron) {
		t.Error("cron's default PATH lacks /usr/local/bin, where leadergate is installed")
	}
}

type cronEntry struct{ line, user, command string }

// cronEntries splits /etc/cron.d lines: 5 time fields (or an @descriptor),
// a user, a command; comments, blank lines and NAME=value are skipped.
func cronEntries(t *testing.T, crontab string) []cronEntry {
	t.Helper()
	var out []cronEntry
	assign := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	for _, l := range strings.Split(crontab, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || assign.MatchString(l) {
			continue
		}
		n := 5
		if strings.HasPrefix(l, "@") {
			n = 1
		}
		f := strings.Fields(l)
		if len(f) < n+2 {
			t.Errorf("cron line %q: want %d time fields, a user and a command", l, n)
			continue
		}
		rest := l
		for i := 0; i < n+1; i++ { // cut fields off the front, keep the command's spacing
			rest = strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(rest, " \t"), f[i]), " \t")
		}
		out = append(out, cronEntry{line: l, user: f[n], command: rest})
	}
	return out
}

// shellcheck runs shellcheck on a file as POSIX sh. It skips the test when
// shellcheck is absent, unless LEADERGATE_REQUIRE_SHELLCHECK=1 (CI).
func shellcheck(t *testing.T, name, path string) {
	t.Helper()
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		msg := "shellcheck is not installed (apt-get install shellcheck); shell not checked"
		if os.Getenv("LEADERGATE_REQUIRE_SHELLCHECK") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out, err := exec.Command(sc, "--shell=sh", "--severity=style", path).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck %s:\n%s", name, out)
	}
}

// shellcheckSnippet writes a one-line command to a file and checks it.
func shellcheckSnippet(t *testing.T, name, snippet string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "snippet.sh")
	if err := os.WriteFile(f, []byte("#!/bin/sh\n"+snippet+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shellcheck(t, name, f)
}

func TestShellcheckInstallScript(t *testing.T) {
	shellcheck(t, installScript, installScript)
}

func TestShellcheckConfigCommands(t *testing.T) {
	for _, config := range configs {
		doc := parseYAML(t, config)
		for _, section := range []string{"commands", "container_commands"} {
			cmds, _ := doc[section].(map[string]any)
			for name := range cmds {
				cmd, ok := dig(cmds, name, "command").(string)
				if !ok {
					t.Errorf("%s %s.%s: command is not a string", config, section, name)
					continue
				}
				shellcheckSnippet(t, fmt.Sprintf("%s %s.%s", filepath.Base(config), section, name), cmd)
			}
		}
		if cron, ok := dig(doc, "files", "/etc/cron.d/leader-jobs", "content").(string); ok {
			for _, e := range cronEntries(t, cron) {
				// cron runs each command with /bin/sh -c.
				shellcheckSnippet(t, "cron line "+e.line, e.command)
			}
		}
	}
}
