package schedule

import (
	"strings"
	"testing"
)

// A nested "leadergate run --" or "leadergate check &&" asks again what
// the scheduler decided; under the ledger the nested run found the tick
// taken (by the scheduler) and exited 0 without running the command.
func TestMigrationWarningsFindANestedLeadergate(t *testing.T) {
	c, err := Parse(strings.NewReader(`PATH=/usr/bin:/bin
*/5 * * * * leadergate run -- php artisan reminders:send
0 3 * * * cd /var/app/current && /usr/local/bin/leadergate run --max-runtime 2h -- php artisan billing:run
30 * * * * set -a; . /etc/env; set +a; leadergate check && ./bin/hourly-report
[all] 0 4 * * * leadergate run -- ./bin/rotate
0 5 * * * LEADERGATE_JOB=x exec leadergate --ledger jobs run --job x -- ./bin/y
0 6 * * * ./bin/leadergate-report run
0 7 * * * echo leadergate run -- nothing
`), "jobs.cron")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range MigrationWarnings(c, Lookups{}) {
		got = append(got, w.Error())
	}
	const run = "the scheduler already decided this tick is this instance's: a nested leadergate run only asks again, and with --ledger it can find the tick taken, by the scheduler itself, and exit 0 without running the command: remove the prefix"
	want := []string{
		`jobs.cron:2: command "leadergate run --": ` + run,
		`jobs.cron:3: command "/usr/local/bin/leadergate run --max-runtime 2h --": ` + run,
		`jobs.cron:4: command "leadergate check": the scheduler already decided this tick is this instance's: a nested leadergate check only asks again: remove it`,
		`jobs.cron:5: command "leadergate run --": an [all] job runs on every instance, and a nested leadergate run makes the scheduler's decision again by another rule: to run it on the leader only, remove [all] and this prefix`,
		`jobs.cron:6: command "leadergate --ledger jobs run --job x --": ` + run,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
