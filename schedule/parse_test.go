package schedule

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in ../testdata/crontab")

const crontabDir = "../testdata/crontab"

func parseTestdata(t *testing.T, name string) (*Crontab, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(crontabDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(bytes.NewReader(b), name)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(crontabDir, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestParseAcceptsEveryValidForm(t *testing.T) {
	c, err := parseTestdata(t, "good.cron")
	if err != nil {
		t.Fatalf("good.cron rejected:\n%v", err)
	}
	baseEnv := []string{"CRON_TZ=UTC", "MAILTO=", "PATH=/usr/local/bin:/usr/bin:/bin",
		"GREETING=hello   world", `SINGLE=say "hi"`, "SPACED=with spaces around"}
	bashEnv := append(slices.Clone(baseEnv), "SHELL=/bin/bash")
	tokyoEnv := append(slices.Clone(bashEnv), "CRON_TZ=Asia/Tokyo")
	type want struct {
		line    int
		name    string // "" means the derived name, DerivedName
		spec    string
		tz      string
		command string
		all     bool
		shell   string
		env     []string
	}
	wants := []want{
		{10, "billing-run", "0 3 * * *", "UTC", "/usr/bin/php app/console billing:run --env=prod", false, "/bin/sh", baseEnv},
		{11, "", "*/15 9-17 * * mon-fri", "UTC", `echo   "keeps   its spacing"`, false, "/bin/sh", baseEnv},
		{12, "", "30 */10 * * * *", "UTC", "echo six fields, seconds first", false, "/bin/sh", baseEnv},
		{13, "", "@hourly", "UTC", "echo hourly", false, "/bin/sh", baseEnv},
		{14, "", "@daily", "UTC", "echo daily", false, "/bin/sh", baseEnv},
		{15, "", "@midnight", "UTC", "echo midnight", false, "/bin/sh", baseEnv},
		{16, "", "@weekly", "UTC", "echo weekly", false, "/bin/sh", baseEnv},
		{17, "", "@monthly", "UTC", "echo monthly", false, "/bin/sh", baseEnv},
		{18, "", "@yearly", "UTC", "echo yearly", false, "/bin/sh", baseEnv},
		{19, "", "@annually", "UTC", "echo annually", false, "/bin/sh", baseEnv},
		{20, "", "@every 90s", "UTC", "echo every", false, "/bin/sh", baseEnv},
		{21, "", "@every 1h30m", "UTC", "echo every long", false, "/bin/sh", baseEnv},
		{22, "", "0 3 * * *", "Europe/Berlin", "echo berlin", false, "/bin/sh", baseEnv},
		{23, "", "0 12 * * *", "America/New_York", "echo new york", false, "/bin/sh", baseEnv},
		{24, "", "0 3 * * *", "UTC", "find /tmp/app-cache -mtime +1 -delete", true, "/bin/sh", baseEnv},
		{27, "rotate", "@daily", "UTC", "logrotate /etc/app/logrotate.conf", true, "/bin/sh", baseEnv},
		{29, "", "0 0 1 jan,jul ?", "UTC", `echo "$SHELL" ${BASH_VERSION:+bash}`, false, "/bin/bash", bashEnv},
		{31, "", "0 0 * * sun", "Asia/Tokyo", "echo tokyo from the line above", false, "/bin/bash", tokyoEnv},
		{32, "", "0 0 29 2 *", "Asia/Tokyo", "echo leap day", false, "/bin/bash", tokyoEnv},
		{33, "", "0,30 1-5/2 1-15 1-6 0-6", "Asia/Tokyo", "echo lists ranges steps", false, "/bin/bash", tokyoEnv},
		{34, "", "5 4 * * *", "Asia/Tokyo", "echo leading and inner tabs", false, "/bin/bash", tokyoEnv},
		{35, "", "0 5 * * *", "Asia/Tokyo", "echo crlf", false, "/bin/bash", tokyoEnv},
	}
	if len(c.Jobs) != len(wants) {
		var lines []int
		for _, j := range c.Jobs {
			lines = append(lines, j.Line)
		}
		t.Fatalf("got %d jobs on lines %v, want %d", len(c.Jobs), lines, len(wants))
	}
	for i, w := range wants {
		j := c.Jobs[i]
		named := w.name != ""
		if !named {
			w.name = DerivedName(w.spec, j.TZ, w.command)
		}
		if j.Line != w.line || j.Name != w.name || j.Named != named || j.Spec != w.spec || j.TZ.String() != w.tz ||
			j.Command != w.command || j.EveryInstance != w.all || j.Shell != w.shell || j.File != "good.cron" {
			t.Errorf("job %d:\n got line %d name %q spec %q tz %s command %q all %v shell %s\nwant line %d name %q spec %q tz %s command %q all %v shell %s",
				i, j.Line, j.Name, j.Spec, j.TZ, j.Command, j.EveryInstance, j.Shell,
				w.line, w.name, w.spec, w.tz, w.command, w.all, w.shell)
		}
		if !slices.Equal(j.Env, w.env) {
			t.Errorf("line %d env = %q, want %q", j.Line, j.Env, w.env)
		}
		if j.Schedule == nil || j.Schedule.Next(neverRef).IsZero() {
			t.Errorf("line %d: schedule never fires", j.Line)
		}
	}
}

func TestParseRejectsEveryBadLine(t *testing.T) {
	_, err := parseTestdata(t, "bad.cron")
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("bad.cron: got %v, want a *ParseError", err)
	}
	if pe.ExitCode() != 65 {
		t.Errorf("exit code %d, want 65", pe.ExitCode())
	}
	golden(t, "bad.cron.want", err.Error()+"\n")

	// Every line that is not a comment, blank or marked GOOD must be
	// reported by its own line number; each message starts with file:line.
	b, _ := os.ReadFile(filepath.Join(crontabDir, "bad.cron"))
	reported := map[int]bool{}
	for _, l := range pe.Lines {
		reported[l.Line] = true
	}
	for _, m := range strings.Split(err.Error(), "\n") {
		if !regexp.MustCompile(`^bad\.cron:\d+: `).MatchString(m) {
			t.Errorf("message does not start with file:line: %q", m)
		}
	}
	for i, line := range strings.Split(string(b), "\n") {
		n := i + 1
		s := strings.TrimSpace(line)
		good := strings.Contains(s, "GOOD")
		switch {
		case good && reported[n]:
			t.Errorf("bad.cron:%d %q is fine but was reported", n, s)
		case s == "" || strings.HasPrefix(s, "#") || good || reported[n]:
			continue
		}
		t.Errorf("bad.cron:%d %q was not reported", n, s)
	}
}

func TestParseLineErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"minute out of range names file, line, field and range",
			"# x\n\n0 0 * * * ok\n\n\n\n61 * * * * echo x\n",
			`leader-jobs.cron:7: minute field "61": value out of range 0-59`},
		{"a value inside a range is named",
			"5-61 * * * * x", `leader-jobs.cron:1: minute field "5-61": value 61 out of range 0-59`},
		{"seconds field is checked in six-field lines",
			"60 0 0 * * * x", `leader-jobs.cron:1: second field "60": value out of range 0-59`},
		{"month names are accepted and checked",
			"0 0 * foo * x", `leader-jobs.cron:1: month field "foo": not a number in 1-12 or jan-dec`},
		{"a non-numeric step",
			"*/x * * * * x", `leader-jobs.cron:1: minute field "*/x": step "x" is not a number`},
		{"a step wider than the field",
			"0 */25 * * * x", `leader-jobs.cron:1: hour field "*/25": step 25 is larger than the field's range 0-23`},
		{"an empty range end",
			"0 1- * * * x", `leader-jobs.cron:1: hour field "1-": empty range end: write N-M`},
		{"too few fields and no command",
			"0 0 *", `leader-jobs.cron:1: schedule "0 0 *": 3 fields, a schedule needs 5 (minute hour day-of-month month day-of-week), or 6 with a leading seconds field, then the command`},
		{"a marker alone",
			"[all]", `leader-jobs.cron:1: schedule "": missing: a job line is the schedule (5 fields, 6 with seconds, or @daily, @every 5m, ...), then the command`},
		{"a marker twice",
			"[all] [all] @daily x", `leader-jobs.cron:1: marker "[all]": given twice: write it once, at the start of the line`},
		{"two time zones",
			"CRON_TZ=UTC TZ=UTC @daily x", `leader-jobs.cron:1: time zone "UTC": given twice: write one CRON_TZ= per line`},
		{"an empty time zone",
			"CRON_TZ= @daily x", `leader-jobs.cron:1: time zone "": empty: write e.g. CRON_TZ=Europe/Berlin or CRON_TZ=UTC`},
		{"a descriptor without command",
			"@daily", `leader-jobs.cron:1: command "": missing after the schedule "@daily": a job line is the schedule, then the command`},
		{"a fractional @every",
			"@every 1500ms x", `leader-jobs.cron:1: @every duration "1500ms": not a whole number of seconds: the scheduler fires on whole seconds`},
		{"text after a closing quote",
			`A="x" y`, `leader-jobs.cron:1: A value "\"x\" y": text "y" after the closing quote: quote the whole value`},
		{"a name followed by an environment line",
			"# name: a\nX=1\n@daily x", `leader-jobs.cron:1: name "a": followed by an environment line on line 2, not by a job line: put the # name: comment directly above its job`},
		{"a name at the end of the file",
			"@daily x\n# name: last", `leader-jobs.cron:2: name "last": followed by the end of the file, not by a job line: put the # name: comment directly above its job`},
		{"two names for one job",
			"# name: a\n# name: b\n@daily x", `leader-jobs.cron:2: name "b": the job below already has # name: on line 1: keep one per job`},
		{"a timeout that is not a duration",
			"# timeout: 2 hours\n@daily x", `leader-jobs.cron:1: timeout "2 hours": not a duration: write e.g. # timeout: 90s, 30m or 2h`},
		{"a zero timeout",
			"# timeout: 0s\n@daily x", `leader-jobs.cron:1: timeout "0s": must be positive: write e.g. # timeout: 30m (leave the line out for no limit)`},
		{"two timeouts for one job",
			"# timeout: 1m\n# name: a\n# timeout: 2m\n@daily x", `leader-jobs.cron:3: timeout "2m": the job below already has # timeout: on line 1: keep one per job`},
		{"a timeout separated from its job by a blank line",
			"# timeout: 1m\n\n@daily x", `leader-jobs.cron:1: timeout "1m": followed by a blank line on line 2, not by a job line: put the # timeout: comment directly above its job`},
		{"an environment line with text after its closing quote and before a comment",
			`A="x" y # note`, `leader-jobs.cron:1: A value "\"x\" y": text "y" after the closing quote: quote the whole value`},
		{"a name equal to a derived name",
			"@daily x\n# name: " + DerivedName("@daily", time.Local, "x") + "\n@daily y",
			`leader-jobs.cron:3: name "` + DerivedName("@daily", time.Local, "x") + `": already used by line 1: give each job its own name`},
		{"a line too long",
			"@daily " + strings.Repeat("x", maxLine), `leader-jobs.cron:1: line longer than 65536 bytes: shorten it, or move the command into a script`},
		{"robfig/cron#554 input is an error, not a panic",
			"TZ=0 0 0 * * * x", `leader-jobs.cron:1: time zone "0": unknown time zone: use an IANA name such as UTC or Europe/Berlin`},
		{"every bad line is listed, in order",
			"61 * * * * a\n@daily ok\n0 0 0 * * b\n",
			"leader-jobs.cron:1: minute field \"61\": value out of range 0-59\n" +
				"leader-jobs.cron:3: day-of-month field \"0\": value out of range 1-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "leader-jobs.cron")
			if err == nil {
				t.Fatalf("accepted %q", tt.in)
			}
			if err.Error() != tt.want {
				t.Errorf("got  %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseEdgeCasesAccepted(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(t *testing.T, c *Crontab)
	}{
		{"an empty file has no jobs", "", func(t *testing.T, c *Crontab) {
			if len(c.Jobs) != 0 {
				t.Errorf("got %d jobs", len(c.Jobs))
			}
		}},
		{"a byte order mark and no final newline", "\ufeff@daily x", func(t *testing.T, c *Crontab) {
			if len(c.Jobs) != 1 || c.Jobs[0].Command != "x" {
				t.Errorf("got %+v", c.Jobs)
			}
		}},
		{"without CRON_TZ the schedule is read in time.Local", "@daily x", func(t *testing.T, c *Crontab) {
			if c.Jobs[0].TZ != time.Local {
				t.Errorf("TZ = %v, want Local", c.Jobs[0].TZ)
			}
		}},
		{"a TZ= line alone is environment, not a schedule zone", "TZ=Asia/Tokyo\n@daily x", func(t *testing.T, c *Crontab) {
			j := c.Jobs[0]
			if j.TZ != time.Local || !slices.Equal(j.Env, []string{"TZ=Asia/Tokyo"}) {
				t.Errorf("TZ %v env %q", j.TZ, j.Env)
			}
		}},
		{"a command that is a word after five fields stays the command", "0 0 * * * date +%s", func(t *testing.T, c *Crontab) {
			if j := c.Jobs[0]; j.Spec != "0 0 * * *" || j.Command != "date +%s" {
				t.Errorf("spec %q command %q", j.Spec, j.Command)
			}
		}},
		{"a second marker order: zone then [all]", "CRON_TZ=UTC [all] @daily x", func(t *testing.T, c *Crontab) {
			if j := c.Jobs[0]; !j.EveryInstance || j.TZ.String() != "UTC" {
				t.Errorf("all %v tz %v", j.EveryInstance, j.TZ)
			}
		}},
		{"a comment after an environment value is stripped with its blanks",
			"A=1   # the first\nB='x # y'  # quoted\nC=http://host/#top\nD=\"\"\t# empty\n@daily x", func(t *testing.T, c *Crontab) {
				want := []string{"A=1", "B=x # y", "C=http://host/#top", "D="}
				if !slices.Equal(c.Jobs[0].Env, want) {
					t.Errorf("env %q, want %q", c.Jobs[0].Env, want)
				}
			}},
		{"a zone line with a comment is an environment line, not a job",
			"CRON_TZ=Europe/Berlin   # zone of the schedules below\n@daily x", func(t *testing.T, c *Crontab) {
				if len(c.Jobs) != 1 || c.Jobs[0].TZ.String() != "Europe/Berlin" {
					t.Errorf("jobs %d, zone %v; want 1 job in Europe/Berlin", len(c.Jobs), c.Jobs[0].TZ)
				}
			}},
		{"an indented comment is a comment", "  \t# 61 * * * * not a job\n@daily x", func(t *testing.T, c *Crontab) {
			if len(c.Jobs) != 1 || len(c.Warnings) != 0 {
				t.Errorf("jobs %d, warnings %v", len(c.Jobs), c.Warnings)
			}
		}},
		{"a timeout directive sets the job's timeout", "# timeout: 1h30m\n# name: n\n@daily x\n@daily y", func(t *testing.T, c *Crontab) {
			if c.Jobs[0].Timeout != 90*time.Minute || c.Jobs[0].Name != "n" || c.Jobs[1].Timeout != 0 {
				t.Errorf("timeouts %v, %v; name %q", c.Jobs[0].Timeout, c.Jobs[1].Timeout, c.Jobs[0].Name)
			}
		}},
		{"an unknown key is a comment, with a warning when it looks like a directive",
			"# note: runs nightly\n# nmae: billing\n# Timeout: 5m\n@daily x", func(t *testing.T, c *Crontab) {
				var got []string
				for _, w := range c.Warnings {
					got = append(got, w.Error())
				}
				want := []string{
					`/etc/app/leader-jobs.cron:2: comment "# nmae:": not a directive, so it is ignored: did you mean # name:?`,
					`/etc/app/leader-jobs.cron:3: comment "# Timeout:": not a directive, so it is ignored: did you mean # timeout:?`,
				}
				if !slices.Equal(got, want) || c.Jobs[0].Name != DerivedName("@daily", time.Local, "x") || c.Jobs[0].Timeout != 0 {
					t.Errorf("warnings\n%s\nwant\n%s\n(name %q, timeout %v)", strings.Join(got, "\n"), strings.Join(want, "\n"), c.Jobs[0].Name, c.Jobs[0].Timeout)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.in), "/etc/app/leader-jobs.cron")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestCheckPrintsJobsAndNextRuns(t *testing.T) {
	c, err := parseTestdata(t, "good.cron")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Check(&buf, &buf, c, CheckOptions{From: time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	golden(t, "good.cron.check", buf.String())
}

func TestParseFileRefusesUnsafeFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "leader-jobs.cron")
	if err := os.WriteFile(path, []byte("@daily true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(path); err != nil {
		t.Fatalf("a safe file was refused: %v", err)
	}
	wantFileError := func(t *testing.T, err error, fix string) {
		t.Helper()
		var fe *FileError
		if !errors.As(err, &fe) || fe.ExitCode() != 78 {
			t.Fatalf("got %v, want a *FileError with exit code 78", err)
		}
		if !strings.Contains(err.Error(), fix) {
			t.Errorf("message %q does not name the fix %q", err, fix)
		}
	}

	t.Run("group-writable", func(t *testing.T) {
		os.Chmod(path, 0o664)
		defer os.Chmod(path, 0o600)
		_, err := ParseFile(path)
		wantFileError(t, err, "chmod go-w "+path)
	})
	t.Run("world-writable", func(t *testing.T) {
		os.Chmod(path, 0o602)
		defer os.Chmod(path, 0o600)
		_, err := ParseFile(path)
		wantFileError(t, err, "chmod go-w "+path)
	})
	t.Run("missing", func(t *testing.T) {
		_, err := ParseFile(filepath.Join(dir, "nope.cron"))
		wantFileError(t, err, "no such file")
	})
	t.Run("a directory", func(t *testing.T) {
		_, err := ParseFile(dir)
		wantFileError(t, err, "not a regular file")
	})
	t.Run("owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the file away")
		}
		if err := os.Chown(path, 4242, 4242); err != nil {
			t.Skip(err)
		}
		defer os.Chown(path, 0, 0)
		_, err := ParseFile(path)
		wantFileError(t, err, "chown 0 "+path)
		// --check runs nothing: root at deploy time validates the crontab
		// of the user the scheduler will run as.
		if _, err := CheckFile(path); err != nil {
			t.Errorf("CheckFile refused another user's safe crontab: %v", err)
		}
		os.Chmod(path, 0o666)
		defer os.Chmod(path, 0o600)
		_, err = CheckFile(path)
		wantFileError(t, err, "chmod go-w "+path)
	})
	t.Run("bad content is a ParseError, exit 65", func(t *testing.T) {
		os.WriteFile(path, []byte("61 * * * * x\n"), 0o600)
		_, err := ParseFile(path)
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), path+":1: minute field") {
			t.Fatalf("got %v", err)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"good.cron", "bad.cron"} {
		b, err := os.ReadFile(filepath.Join(crontabDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range []string{"TZ=0", "TZ=0 * * * * *", "CRON_TZ=", "CRON_TZ= ", "@every -1s x", "[all]", "# name:", "0-", "*/", "A='"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.NewReader(s), "f.cron")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Lines) == 0 {
				t.Fatalf("error is not a ParseError with lines: %v", err)
			}
			for _, l := range pe.Lines {
				if l.Line < 1 || !strings.HasPrefix(l.Error(), "f.cron:"+strconv.Itoa(l.Line)+": ") {
					t.Fatalf("bad location in %q", l.Error())
				}
			}
			return
		}
		for _, j := range c.Jobs {
			if j.Command == "" || j.Schedule == nil || j.TZ == nil || j.Name == "" {
				t.Fatalf("incomplete job %+v", j)
			}
			if n := j.Schedule.Next(neverRef); !n.After(neverRef) {
				t.Fatalf("line %d %q: next %v is not after %v", j.Line, j.Spec, n, neverRef)
			}
		}
	})
}

func TestLedgerDirectives(t *testing.T) {
	c, err := Parse(strings.NewReader("# catch-up: 2h\n# on-lost: rerun\n0 3 * * * bill\n0 4 * * * report\n"), "leader-jobs.cron")
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Jobs[0]; j.CatchUp != 2*time.Hour || !j.RerunLost {
		t.Errorf("first job: catch-up %s, rerun lost %t", j.CatchUp, j.RerunLost)
	}
	if j := c.Jobs[1]; j.CatchUp != 0 || j.RerunLost {
		t.Errorf("second job took the first's directives: %+v", j)
	}
	for _, bad := range []string{"# on-lost: twice\n0 3 * * * x\n", "# catch-up: soon\n0 3 * * * x\n", "# catch-up: -1h\n0 3 * * * x\n"} {
		if _, err := Parse(strings.NewReader(bad), "f"); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
