package cli

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// exampleMarker is the first line of every example crontab in the README,
// docs/*.md and the package docs: those blocks must pass
// `leadergate schedule --check` exactly as printed.
const exampleMarker = "# leader-jobs.cron"

type exampleCrontab struct {
	where string // file:line of the marker line
	text  string
}

// TestDocExampleCrontabsPassCheck: every example crontab a user may copy
// from the documentation is accepted by --check verbatim (exit 0, no
// error), so the first thing a new user tries works.
func TestDocExampleCrontabsPassCheck(t *testing.T) {
	examples := docExamples(t)
	from := map[string]int{}
	for _, ex := range examples {
		file, _ := filepath.Rel(filepath.Join("..", ".."), strings.SplitN(ex.where, ":", 2)[0])
		from[file]++
	}
	// The test must not pass by finding nothing.
	for _, must := range []string{"README.md", filepath.Join("schedule", "doc.go")} {
		if from[must] == 0 {
			t.Errorf("no example crontab (a block starting %q) found in %s", exampleMarker, must)
		}
	}
	dir := t.TempDir()
	for i, ex := range examples {
		t.Run(ex.where, func(t *testing.T) {
			path := writeCrontab(t, dir, "example"+strconv.Itoa(i)+".cron", ex.text)
			code, stdout, stderr := runLeadergate(t, dir, "schedule", "--check", path)
			if code != 0 || strings.Contains(stderr, "error:") {
				t.Errorf("the example at %s fails leadergate schedule --check (exit %d):\n%s\n--- example\n%s", ex.where, code, stderr, ex.text)
			}
			if !strings.Contains(stdout, " ok\n") {
				t.Errorf("the example at %s: --check printed no ok line:\n%s", ex.where, stdout)
			}
		})
	}
}

// docExamples extracts the example crontabs: fenced ``` blocks of Markdown
// files and tab-indented blocks of doc.go comments whose first line is
// exampleMarker.
func docExamples(t *testing.T) []exampleCrontab {
	t.Helper()
	var out []exampleCrontab
	// The repository's root, two floors up from this package.
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		switch {
		case strings.HasSuffix(path, ".md"):
			out = append(out, markdownExamples(t, path)...)
		case d.Name() == "doc.go":
			out = append(out, goDocExamples(t, path)...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func markdownExamples(t *testing.T, path string) []exampleCrontab {
	lines := readLines(t, path)
	var out []exampleCrontab
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), "```") {
			continue
		}
		start := i + 1
		end := start
		for end < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[end]), "```") {
			end++
		}
		if start < len(lines) && lines[start] == exampleMarker {
			out = append(out, exampleCrontab{
				where: path + ":" + strconv.Itoa(start+1),
				text:  strings.Join(lines[start:end], "\n") + "\n",
			})
		}
		i = end
	}
	return out
}

func goDocExamples(t *testing.T, path string) []exampleCrontab {
	lines := readLines(t, path)
	var out []exampleCrontab
	for i := 0; i < len(lines); i++ {
		if lines[i] != "//\t"+exampleMarker {
			continue
		}
		start := i
		var b strings.Builder
		for ; i < len(lines); i++ {
			l := lines[i]
			if l == "//" {
				// A blank comment line inside the block, unless the block ends.
				if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "//\t") {
					b.WriteString("\n")
					continue
				}
				break
			}
			rest, ok := strings.CutPrefix(l, "//\t")
			if !ok {
				break
			}
			b.WriteString(rest + "\n")
		}
		out = append(out, exampleCrontab{where: path + ":" + strconv.Itoa(start+1), text: b.String()})
	}
	return out
}
