package schedule

import (
	"errors"
	"strings"
	"testing"
)

// Lines whose meaning changed silently: they are refused, one message each.
func TestParseRefusesLinesThatMeanSomethingElse(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"seven fields: the seventh was the command's first word, a glob",
			"* * * * * * * echo x",
			`f.cron:1: command "* echo x": starts with "*", a seventh schedule field: a schedule has 5 fields, or 6 with seconds first, and no year: remove the extra field`},
		{"supercronic's seven fields, seconds first and year last",
			"0 */5 * * * * 2026 echo x",
			`f.cron:1: command "2026 echo x": starts with "2026", a year: leadergate has no year field (supercronic's last field): remove it`},
		{"supercronic's six fields, year last",
			"*/5 * * * * 2025-2030 echo x",
			`f.cron:1: command "2025-2030 echo x": starts with "2025-2030", a year: leadergate has no year field (supercronic's last field): remove it`},
		{"a sixth field that is no day-of-week",
			"0 3 * * * 8 echo x",
			`f.cron:1: command "8 echo x": starts with "8", which looks like a sixth schedule field but is no day-of-week (0-7 or sun-sat): fix the schedule; a command does not start with it`},
		{"a seventh field that is a step",
			"0 0 3 * * * */2 echo x",
			`f.cron:1: command "*/2 echo x": starts with "*/2", a seventh schedule field: a schedule has 5 fields, or 6 with seconds first, and no year: remove the extra field`},
		{"a field after a descriptor",
			"@daily 5 ./bin/x",
			`f.cron:1: command "5 ./bin/x": starts with "5", which looks like a schedule field: @daily is the whole schedule: remove it`},
		{"a command that is a glob",
			"0 3 * * * *.sh",
			`f.cron:1: command "*.sh": starts with "*.sh", a shell glob: the shell would run whatever file name matches it: write the command's name or path`},
		{"a command that is a bracket glob",
			"0 3 * * * [ab]x --now",
			`f.cron:1: command "[ab]x --now": starts with "[ab]x", a shell glob: the shell would run whatever file name matches it: write the command's name or path`},
		{"a command that is a question-mark glob",
			"@daily ?x",
			`f.cron:1: command "?x": starts with "?x", a shell glob: the shell would run whatever file name matches it: write the command's name or path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "f.cron")
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseAcceptsCommandsThatOnlyLookOdd(t *testing.T) {
	for _, in := range []string{
		"0 3 * * * [ -e /var/app/leader ] && ./bin/x",
		"0 3 * * * [[ -e /var/app/leader ]] && ./bin/x",
		"0 3 * * * 7z a /tmp/x.7z /var/log",
		"0 3 * * * 2>/dev/null ./bin/x",
		"@every 10s ./bin/x",
	} {
		c, err := Parse(strings.NewReader(in), "f.cron")
		if err != nil || len(c.Warnings) != 0 {
			t.Errorf("%q: %v, warnings %v", in, err, c.Warnings)
		}
	}
}

// Six fields are read seconds first; supercronic reads them year last. The
// lines both read differently, and every per-second one, are warnings.
func TestParseWarnsAboutSixFieldLines(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"supercronic's every five minutes is every five seconds here",
			"*/5 * * * * * ./bin/x",
			`f.cron:1: schedule "*/5 * * * * *": runs 12 times a minute: six fields are read seconds first, as "* * * * *" at seconds */5; supercronic reads six fields year last, as "*/5 * * * *": if the line comes from there, write that; for a job that runs every few seconds, write @every 5s, which says so`},
		{"every second",
			"* * * * * * ./bin/x",
			`f.cron:1: schedule "* * * * * *": runs 60 times a minute: six fields are read seconds first, as "* * * * *" at seconds *; supercronic reads six fields year last, as "* * * * *": if the line comes from there, write that; for a job that runs every few seconds, write @every 1s, which says so`},
		{"per second within some hours: no @every says it",
			"*/10 * 9-17 * * * ./bin/x",
			`f.cron:1: schedule "*/10 * 9-17 * * *": runs 6 times a minute: six fields are read seconds first, as "* 9-17 * * *" at seconds */10; supercronic reads six fields year last, as "*/10 * 9-17 * *": if the line comes from there, write that`},
		{"per second with ? as the day-of-week: no year-last reading",
			"0,30 * * * * ? ./bin/x",
			`f.cron:1: schedule "0,30 * * * * ?": runs 2 times a minute: six fields are read seconds first, as "* * * * ?" at seconds 0,30`},
		{"at second 0: the five fields say it",
			"0 3 * * * * ./bin/x",
			`f.cron:1: schedule "0 3 * * * *": six fields are read seconds first, as "3 * * * *" at second 0; supercronic reads them year last, as "0 3 * * *": write that if the line comes from there, or write the five fields "3 * * * *" to keep this`},
		{"at another second: ? keeps it",
			"30 0 3 * * * ./bin/x",
			`f.cron:1: schedule "30 0 3 * * *": six fields are read seconds first, as "0 3 * * *" at second 30; supercronic reads them year last, as "30 0 3 * *": write that if the line comes from there, or write the day-of-week as ? ("30 0 3 * * ?") to keep seconds first`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.in), "f.cron")
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) != 1 || c.Warnings[0].Error() != tt.want {
				t.Errorf("got  %v\nwant %s", c.Warnings, tt.want)
			}
		})
	}
	for _, quiet := range []string{"30 0 3 * * ? ./bin/x", "0 0 3 * * 1-5 ./bin/x", "0 3 * * * ./bin/x", "0 0 3 * * 0 ./bin/x"} {
		if c, err := Parse(strings.NewReader(quiet), "f.cron"); err != nil || len(c.Warnings) != 0 {
			t.Errorf("%q: %v, warnings %v", quiet, err, c.Warnings)
		}
	}
}

func TestParseRefusesABinaryFileInOneError(t *testing.T) {
	elf := "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00\x01\x00\x00\x00" + strings.Repeat("garbage line\n", 5000)
	tests := []struct{ name, in, want string }{
		{"an executable", elf,
			"f.cron:1: not a text file: this line holds a NUL byte (a binary file, or text saved as UTF-16): pass the crontab, as plain text (UTF-8)"},
		{"text saved as UTF-16", "\xff\xfe@\x00d\x00a\x00i\x00l\x00y\x00 \x00x\x00\n\x00",
			"f.cron:1: not a text file: this line holds a NUL byte (a binary file, or text saved as UTF-16): pass the crontab, as plain text (UTF-8)"},
		{"a NUL after bad lines: one error, not theirs", "61 * * * * x\nnot a line\n@daily ok\n@daily x\x00y\n",
			"f.cron:4: not a text file: this line holds a NUL byte (a binary file, or text saved as UTF-16): pass the crontab, as plain text (UTF-8)"},
		{"a NUL in a line too long", strings.Repeat("x", 2*maxLine) + "\x00\n",
			"f.cron:1: not a text file: this line holds a NUL byte (a binary file, or text saved as UTF-16): pass the crontab, as plain text (UTF-8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "f.cron")
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Lines) != 1 || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}
