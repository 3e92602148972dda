// Package schedule is the built-in scheduler behind "leadergate schedule":
// one long-running process reads a crontab-style file and runs each job when
// it is due, on the leader only unless the job is marked to run everywhere.
// An instance then needs no cron daemon (Amazon Linux 2023 ships none).
//
// # Crontab format
//
// One entry per line; leading and trailing blanks, CRLF line ends and a
// byte order mark are ignored.
//
//	# leader-jobs.cron
//	# a comment; blank lines are ignored
//	SHELL=/bin/bash                 # shell for the jobs below (default /bin/sh)
//	PATH=/usr/local/bin:/usr/bin:/bin
//	GREETING="hello   world"        # quotes keep blanks; '...' works too
//	CRON_TZ=Europe/Berlin           # zone of the schedules below
//
//	# name: billing-run
//	# timeout: 2h
//	0 3 * * * /usr/bin/php app/console billing:run
//	*/10 * * * * * echo "every 10 seconds"          # 6 fields: seconds first
//	@every 5m   curl -fsS http://localhost/ping
//	CRON_TZ=UTC @daily /opt/app/bin/report
//	[all] 0 3 * * * find /tmp/app-cache -mtime +1 -delete
//
// A job line is: an optional [all] marker, an optional CRON_TZ=Zone (or
// TZ=Zone) prefix, the schedule, then the command, which is the rest of the
// line as written and runs with SHELL -c.
//
// Schedules are read as cron reads them:
//
//   - five fields, minute (0-59) hour (0-23) day-of-month (1-31) month
//     (1-12 or jan-dec) day-of-week (0-7 or sun-sat; 0 and 7 are Sunday,
//     also in ranges: 5-7, fri-sun); each a comma list of *, ?, N or N-M,
//     a range or * optionally with /STEP; names in any case. When both day
//     fields are restricted, either matching is enough, as in cron; a day
//     field starting with '*' (even */2) counts as unrestricted.
//   - six fields: a leading seconds field (0-59). A line is read as six
//     fields when its sixth word looks like a day-of-week field (made of
//     digits, day names and the characters "*?,-/"): a command that itself
//     looks like one, such as "5" or "mon", must follow a full six-field
//     schedule (--check warns when a day name is read so).
//   - descriptors @yearly (= @annually), @monthly, @weekly, @daily
//     (= @midnight), @hourly, and @every DURATION (a Go duration of whole
//     seconds, at least 1s, e.g. 90s or 1h30m; counted from the scheduler's
//     start or reload, not aligned to the clock). @reboot is refused.
//
// Schedules are read in the zone given by CRON_TZ= on the line, else by the
// last CRON_TZ=Zone line above it, else in the local zone of the process
// (UTC on EC2 unless configured). A TZ=Zone line on its own is only an
// environment variable for the jobs, as in cron.
//
// Daylight saving time is handled as cronie's cron(8) does (see
// docs/scheduler.md): a fixed-time job (neither minute nor hour field starting
// with '*') whose time is skipped runs right after the change, and in a
// repeated interval runs only in the first pass, even when the scheduler
// starts or reloads between the passes; jobs whose minute or hour field
// starts with '*' run by elapsed time; @every is elapsed time.
//
// A line whose first non-blank character is '#' is a comment, as in cron.
//
// NAME=value lines set the environment of the jobs below them, on top of
// the scheduler's own environment. Values are taken literally: no $VAR
// expansion; one pair of surrounding quotes is removed. A '#' that follows
// a blank outside quotes starts a comment, which is stripped with the
// blanks before it (cron would keep it in the value; nobody means that):
// write GREETING="a # b" to keep one. --check prints each job's
// environment as the job gets it. SHELL must be an absolute path.
//
// # Directives
//
// Comment lines of the form "# key: value" directly above a job line (only
// other comments may stand between them) set properties of that job. A
// directive followed by a blank line, an environment line or the end of
// the file is an error; a key that is not a directive makes an ordinary
// comment, and --check warns when it looks like a misspelt one.
//
//   - "# name: NAME": the job's name (letters, digits and . _ - : / @ +),
//     else the file's base name and the line number, e.g.
//     "leader-jobs.cron:7". Names are unique in a file. Name jobs whose
//     line may move: the name is what the Authority and LEADERGATE_JOB see.
//   - "# timeout: DURATION": a run still going after DURATION (a Go
//     duration of whole seconds, e.g. 90s, 30m, 2h) is stopped: SIGTERM to
//     its process group, SIGKILL after the grace period.
//
// The [all] marker makes a job run on every instance without asking the
// Authority: log rotation, local cache cleanup, whatever the cron daemon
// used to do on each instance.
//
// Differences from Vixie cron: % is not special in commands (no stdin, no
// newline translation); output is logged, never mailed (MAILTO is just an
// environment variable); jobs run in the scheduler's working directory, as
// the scheduler's user.
//
// # Errors
//
// [Parse] reports every bad line at once, each as "file:line: field
// "value": what is wrong", e.g.
//
//	leader-jobs.cron:7: minute field "61": value out of range 0-59
//
// in a [*ParseError] (exit code 65). [ParseFile] also refuses, with a
// [*FileError] (exit code 78), a file that is not a regular file, is
// writable by group or others (fix: chmod go-w FILE), or is owned by a
// user other than root and the one running leadergate — as cron does,
// since whoever can write the file can run commands as the scheduler.
//
// # Running
//
// At each tick, every due job runs in its own goroutine: a leader-only job
// first asks the [gate.Authority] whether it may run, with its name and the
// nominal tick; jobs due at the same tick ask with the same Tick, so the
// Authority's verdict cache makes one election for all of them. A follower
// skips (logged at debug level); when the Authority cannot tell, the job is
// skipped with a warning: the scheduler fails closed. The command runs as
// SHELL -c COMMAND in its own process group (gate.RunGroup), with
// LEADERGATE_JOB (its name), LEADERGATE_SCHEDULED_AT (the nominal tick,
// RFC 3339 in the job's zone, not the moment it started) and
// LEADERGATE_RUN_ID (unique per run) in its environment, so that a job can
// make itself idempotent per tick.
//
// Every line of a job's stdout and stderr is logged as its own record,
// message [MsgJobOutput], at INFO for both streams, with the job name, run
// id, stream and the line in its own attribute; lines longer than 16 KiB
// are split, never dropped. Start (with the lateness behind the tick), exit
// code and duration of each run are logged, and every skip with its
// reason. [NewLogger] writes them as text for people or as JSON with
// durations in seconds (duration_s).
//
// # Guarantees
//
//   - A tick fires at most once per job in one scheduler process; a job
//     still running when it is due again is skipped with a warning (unless
//     Options.AllowOverlap).
//   - A leader-only job never runs without a yes from the Authority.
//   - On reload, a bad file changes nothing; a good one replaces the
//     schedule while running jobs go on.
//   - On shutdown, nothing new starts; running jobs' process groups get
//     SIGTERM, and SIGKILL after the grace period.
//
// # Non-guarantees
//
//   - Exactly once across the fleet: that holds only as far as the
//     Authority does. The election agrees in steady state, but around a
//     leader change two instances can both run a tick, or none (see package
//     elect). Use LEADERGATE_SCHEDULED_AT to make jobs idempotent.
//   - No catch-up: ticks missed while the scheduler was not running, or
//     more than a minute late (suspended VM, clock step), are skipped with a
//     warning, not run later.
//   - Jobs start within milliseconds of their tick on an idle machine, but
//     a leader-only job also waits for its election.
//   - Processes that leave their job's process group (setsid, daemons) are
//     not signalled at shutdown.
package schedule
