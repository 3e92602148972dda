package schedule

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// The derived names are what a fleet's ledger keys, metrics series and
// history are filed under: a change of the digest would make every
// unnamed job another job, fleet-wide. These literals must not change.
func TestDerivedNamesAreStable(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec    string
		tz      *time.Location
		command string
		want    string
	}{
		{"0 3 * * *", time.Local, "/usr/bin/php app/console billing:run", "php-console-5a284a47"},
		{"0 3 * * *", berlin, "/usr/bin/php app/console billing:run", "php-console-9d511303"},
		{"0 4 * * *", time.Local, "/usr/bin/php app/console billing:run", "php-console-0460ac8d"},
		{"@every 5m", time.Local, "APP_ENV=prod ./bin/report --all", "report-all-80894155"},
		{"@daily", time.Local, `"$HOME"/x`, "x-b0c15d56"},
		{"@daily", time.Local, "!!", "job-a34ceea8"},
		{"@hourly", time.Local, "very-long-command-name-that-goes-on and-more", "very-long-command-name-982a98a6"},
	}
	for _, tt := range tests {
		if got := DerivedName(tt.spec, tt.tz, tt.command); got != tt.want {
			t.Errorf("DerivedName(%q, %s, %q) = %q, want %q", tt.spec, tt.tz, tt.command, got, tt.want)
		}
		if !validName().MatchString(DerivedName(tt.spec, tt.tz, tt.command)) {
			t.Errorf("%q is not a name # name: would accept", DerivedName(tt.spec, tt.tz, tt.command))
		}
	}
}

func names(t *testing.T, crontab string) []string {
	t.Helper()
	c, err := Parse(strings.NewReader(crontab), "/etc/app/leader-jobs.cron")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range c.Jobs {
		out = append(out, j.Name)
	}
	return out
}

func TestAnUnnamedJobKeepsItsIdentityWhenLinesAboveItChange(t *testing.T) {
	before := names(t, "CRON_TZ=UTC\n0 3 * * * ./bin/bill\n*/5 * * * * ./bin/sweep\n")
	after := names(t, "CRON_TZ=UTC\n# a new comment\nPATH=/usr/bin:/bin\n\n# name: new\n0 1 * * * ./bin/new\n*/5 * * * * ./bin/sweep\n0 3 * * * ./bin/bill\n")
	if !slices.Contains(after, before[0]) || !slices.Contains(after, before[1]) {
		t.Errorf("moving lines changed identities: before %q, after %q", before, after)
	}
	if before[0] == before[1] || !strings.HasPrefix(before[0], "bill-") || !strings.HasPrefix(before[1], "sweep-") {
		t.Errorf("names %q", before)
	}
}

func TestEditingAnUnnamedJobMakesItAnotherJobANamedOneStays(t *testing.T) {
	base := names(t, "CRON_TZ=UTC\n0 3 * * * ./bin/bill\n")[0]
	for _, edited := range []string{
		"CRON_TZ=UTC\n0 4 * * * ./bin/bill\n",                    // schedule
		"CRON_TZ=UTC\n0 3 * * * ./bin/bill --dry-run\n",          // command
		"CRON_TZ=Europe/Berlin\n0 3 * * * ./bin/bill\n",          // zone above
		"CRON_TZ=UTC\nCRON_TZ=Asia/Tokyo 0 3 * * * ./bin/bill\n", // zone on the line
	} {
		if got := names(t, edited)[0]; got == base {
			t.Errorf("%q kept the name %q of a different job", edited, got)
		}
	}
	for _, same := range []string{
		"CRON_TZ=UTC\n[all] 0 3 * * * ./bin/bill\n",
		"CRON_TZ=UTC\nX=1\n# timeout: 1h\n0   3 * * *   ./bin/bill  \n",
	} {
		if got := names(t, same)[0]; got != base {
			t.Errorf("%q: name %q, want %q (neither the environment, the directives, the marker nor blanks between fields make another job)", same, got, base)
		}
	}
	named := names(t, "# name: bill\n0 3 * * * ./bin/bill\n")[0]
	if renamed := names(t, "# name: bill\nCRON_TZ=Asia/Tokyo 30 4 * * * ./bin/bill --all\n")[0]; named != "bill" || renamed != "bill" {
		t.Errorf("a named job: %q, edited %q", named, renamed)
	}
}

func TestTheSameJobTwiceIsToldApartByOrderWithAWarning(t *testing.T) {
	c, err := Parse(strings.NewReader("A=1\n0 3 * * * ./bin/x\nA=2\n0 3 * * * ./bin/x\n"), "leader-jobs.cron")
	if err != nil {
		t.Fatal(err)
	}
	first := DerivedName("0 3 * * *", time.Local, "./bin/x")
	if c.Jobs[0].Name != first || c.Jobs[1].Name != first+"-2" {
		t.Errorf("names %q, %q", c.Jobs[0].Name, c.Jobs[1].Name)
	}
	if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0].Error(), `leader-jobs.cron:4: job "./bin/x": has the schedule, zone and command of line 2`) ||
		!strings.HasSuffix(c.Warnings[0].Error(), "give each a # name:") {
		t.Errorf("warnings %v", c.Warnings)
	}
}

func TestCheckShowsUnnamedJobsAndWarnsAboutThemUnderTheLedger(t *testing.T) {
	c, err := Parse(strings.NewReader("CRON_TZ=UTC\n# name: bill\n0 3 * * * ./bin/bill\n0 4 * * * ./bin/report\n[all] @daily ./bin/rotate\n"), "jobs.cron")
	if err != nil {
		t.Fatal(err)
	}
	report := DerivedName("0 4 * * *", time.UTC, "./bin/report")
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, ledger := range []bool{false, true} {
		var out, warn bytes.Buffer
		n, err := Check(&out, &warn, c, CheckOptions{From: from, Ledger: ledger})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"jobs.cron:3 bill (leader only)\n",
			"jobs.cron:4 " + report + " (leader only, unnamed)\n",
			"  identity  from its schedule, zone and command: editing one makes it a new job (metrics, history, ledger key); add # name: above it to keep it\n",
			"jobs.cron:5 " + DerivedName("@daily", time.UTC, "./bin/rotate") + " (every instance, unnamed)\n",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("ledger %t: output lacks %q:\n%s", ledger, want, out.String())
			}
		}
		if strings.Count(out.String(), "identity") != 2 || strings.Contains(out.String(), "bill (leader only)\n  schedule  0 3 * * * (time zone UTC)\n  command   ./bin/bill\n  identity") {
			t.Errorf("ledger %t: a named job got an identity note:\n%s", ledger, out.String())
		}
		// Only the unnamed leader-only job is the ledger's concern: [all]
		// jobs claim no ticks.
		wantWarn := ""
		if ledger {
			wantWarn = "leadergate: warning: jobs.cron:4: job \"" + report + "\": unnamed, under the tick ledger: its identity (the ledger's key) comes from its schedule, zone and command, " +
				"so editing one makes it a new job and, while old and new crontabs run side by side in a deploy, its tick can run twice: add # name: NAME above it\n"
		}
		if warn.String() != wantWarn || n != strings.Count(wantWarn, "\n") {
			t.Errorf("ledger %t: %d warnings:\n%s\nwant:\n%s", ledger, n, warn.String(), wantWarn)
		}
	}
}

func TestAJobsPlaceStillNamesItForRunNow(t *testing.T) {
	j := Job{File: "/etc/app/leader-jobs.cron", Line: 7}
	for s, want := range map[string]bool{
		"/etc/app/leader-jobs.cron:7": true, // as --check prints it
		"leader-jobs.cron:7":          true, // the old name
		"leader-jobs.cron:8":          false,
		"app/leader-jobs.cron:7":      false,
	} {
		if got := isLineName(j, s); got != want {
			t.Errorf("isLineName(%q) = %t, want %t", s, got, want)
		}
	}
}
