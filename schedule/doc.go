// Package schedule is the built-in scheduler behind "leadergate schedule":
// one long-running process reads a crontab-style file and runs each job when
// it is due, on the leader only unless the job is marked to run everywhere.
// An instance then needs no cron daemon (Amazon Linux 2023 ships none).
//
// # Crontab format
//
// One entry per line; leading and trailing blanks, CRLF line ends and a
// byte order mark are ignored. The file must be text: a NUL byte (a binary
// file, or text saved as UTF-16) is one error, "not a text file".
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
//	# name: poll-queue
//	@every 10s  ./bin/poll-queue
//	0 0 3 * * ? echo "at 03:00:00, six fields: seconds first"
//	CRON_TZ=UTC @daily /opt/app/bin/report
//	[all] 0 3 * * * find /tmp/app-cache -mtime +1 -delete
//
// A job line is: an optional [all] marker, an optional CRON_TZ=Zone (or
// TZ=Zone) prefix, the schedule, then the command, which is the rest of the
// line as written and runs with SHELL -c. A command may not start with a
// shell glob ("*", "?", "[abc]"; "[" and "[[" are the test commands) or
// with what looks like one more schedule field: "* * * * * * * echo x" was
// an every-second job running "* echo x", and is refused.
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
//     looks like one, such as "mon", must follow a full six-field schedule
//     (--check warns when a day name is read so). supercronic reads six
//     fields as minute ... day-of-week then year, so a six-field line ending
//     in "*" means something else there ("*/5 * * * * *": every 5 minutes
//     there, every 5 seconds here): such lines, and every six-field line
//     that runs more than once a minute, are warnings naming both readings
//     and the fix. "?" as the day-of-week (no year in supercronic) marks a
//     line as seconds first; "@every 10s" says "every 10 seconds".
//   - seven or more fields, or a year, are refused: leadergate has no year
//     field.
//   - descriptors @yearly (= @annually), @monthly, @weekly, @daily
//     (= @midnight), @hourly, and @every DURATION (a Go duration of whole
//     seconds, at least 1s, e.g. 90s or 1h30m). @every runs at the whole
//     multiples of DURATION since the Unix epoch (1970-01-01 00:00:00 UTC),
//     whenever the scheduler started, so every instance of a fleet derives
//     the same ticks (the tick ledger keys them): @every 5m runs at :00,
//     :05, ... and @every 1h on the hour. @reboot is refused.
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
// environment as the job gets it. SHELL must be an absolute path to an
// executable file.
//
// # Directives
//
// Comment lines of the form "# key: value" directly above a job line (only
// other comments may stand between them) set properties of that job. A
// directive followed by a blank line, an environment line or the end of
// the file is an error, and so is one given twice for a job; a key that is
// not a directive makes an ordinary comment, and --check warns when it
// looks like a misspelt one. The eight directives:
//
//   - "# name: NAME": the job's name (letters, digits and . _ - : / @ +,
//     starting with a letter or digit), unique in the file. See Job
//     identity.
//   - "# timeout: DURATION": a run still going after DURATION (whole
//     seconds, e.g. 90s, 30m, 2h) is stopped: SIGTERM to its process group,
//     SIGKILL after the grace period.
//   - "# ping: URL": an http(s) URL pinged as healthchecks.io expects: at
//     the start (URL/start), on success (URL), on failure (URL/<exit code>
//     or URL/fail, with the output's tail).
//   - "# on-failure: COMMAND": a shell command run after a failed run, with
//     the job, tick, exit code and output's tail in its environment;
//     instead of the scheduler's --on-failure.
//   - "# jitter: DURATION": each run waits a random time below DURATION,
//     to spread a fleet's jobs; the tick (LEADERGATE_SCHEDULED_AT, the
//     ledger's key) stays the nominal one.
//   - "# retry: N backoff DURATION": a failed run runs again, up to N (1 to
//     10) times, after DURATION doubled at each attempt (capped at an hour,
//     jittered); same instance, same tick, LEADERGATE_ATTEMPT counts.
//   - "# catch-up: DURATION" (with the tick ledger): at start and on
//     becoming leader, the most recent tick missed within DURATION while
//     no scheduler ran is run once, late.
//   - "# on-lost: rerun" or "# on-lost: report" (with the tick ledger): a
//     run whose instance died mid-job is run again, or (the default) only
//     recorded lost.
//
// The [all] marker makes a job run on every instance without asking the
// Authority: log rotation, local cache cleanup, whatever the cron daemon
// used to do on each instance.
//
// # Job identity
//
// A job's name is what logs, metrics, LEADERGATE_JOB, the Authority and
// the tick ledger (its key) know it by. It is "# name:" when given, else
// [DerivedName]: the command's first two words and a digest of the
// schedule, the CRON_TZ zone and the command, e.g.
// "php-console-5a284a47". It never depends on the line: lines added or
// removed above a job leave it the same job, so a rolling deploy with old
// and new crontabs side by side claims each tick under one key. Editing an
// unnamed job's schedule, zone or command makes it another job (new ledger
// key, metrics series and overlap guard); --check marks unnamed jobs, and
// with the ledger warns about each leader-only one. Jobs with the same
// schedule, zone and command are told apart by order ("-2", "-3"), with a
// warning. Before, unnamed jobs were "file:line"; --run-now still accepts
// that form.
//
// Differences from Vixie cron: % is not special in commands (no stdin, no
// newline translation); output is logged, never mailed (MAILTO is just an
// environment variable); jobs run as the scheduler's user, in the
// directory Options.Dir names (looked up again at each start).
//
// # Errors
//
// [Parse] reports every bad line at once, each as "file:line: field
// "value": what is wrong", e.g.
//
//	leader-jobs.cron:7: minute field "61": value out of range 0-59
//
// in a [*ParseError] (exit code 65). Lines that parse but probably do not
// mean what they say are [Crontab.Warnings]. [ParseFile] also refuses, with
// a [*FileError] (exit code 78), a file that is not a regular file (it is
// looked at before it is opened, and opened without blocking: a named pipe
// would wait for a writer forever), is writable by group or others (fix:
// chmod go-w FILE), or is owned by a user other than root and the one
// running leadergate — as cron does, since whoever can write the file can
// run commands as the scheduler.
//
// # Running
//
// At each tick, every due job runs in its own goroutine: a leader-only job
// first asks the [gate.Authority] whether it may run, with its name and the
// nominal tick; jobs due at the same tick ask with the same Tick, so the
// Authority's verdict cache makes one election for all of them. A follower
// skips (logged at debug level); when the Authority cannot tell, the job is
// skipped with a warning: the scheduler fails closed. With a [Ledger]
// (Options.Ledger), every leader-only tick is also claimed before it runs,
// so that it runs once fleet-wide (see package ledger). With [Controls]
// (Options.Controls) the operators' controls are read once per tick batch:
// a paused job's tick is skipped (the leader records why), a batch whose
// controls cannot be read runs no leader-only job (fail closed), triggers,
// reruns and backfills are taken up and run like ticks, and at start the
// ticks nobody ran are recorded missed and reported ([Hooks.Missed]). The command runs
// as SHELL -c COMMAND in its own process group (gate.RunGroup), with
// LEADERGATE_JOB (its name), LEADERGATE_SCHEDULED_AT (the nominal tick,
// RFC 3339 in the job's zone, not the moment it started),
// LEADERGATE_RUN_ID (unique per run) and LEADERGATE_ATTEMPT in its
// environment, so that a job can make itself idempotent per tick.
//
// Every line of a job's stdout and stderr is logged as its own record,
// message [MsgJobOutput], at INFO for both streams, with the job name, run
// id, stream and the line in its own attribute; lines longer than 16 KiB
// are split, never dropped. Start (with the lateness behind the tick), exit
// code and duration of each run are logged, and every skip with its
// reason. [NewLogger] writes them as text for people or as JSON with
// durations in seconds (duration_s).
//
// A reload (Options.Reload, SIGHUP) reads the file again. A job the old
// schedule had, with the same name, schedule and zone, keeps its place: a
// tick that fell due during the reload still fires. A job the reload adds
// or reschedules is planned from the reload: a tick that passed before it
// existed does not run.
//
// # Guarantees
//
//   - A tick fires at most once per job in one scheduler process; a job
//     still running when it is due again is skipped with a warning (unless
//     Options.AllowOverlap).
//   - A leader-only job never runs without a yes from the Authority, or
//     with a Ledger, without its claim of the tick.
//   - On reload, a bad file changes nothing; a good one replaces the
//     schedule while running jobs go on.
//   - On shutdown, nothing new starts; running jobs' process groups get
//     SIGTERM, and SIGKILL after the grace period.
//
// # Non-guarantees
//
//   - Exactly once across the fleet: without a Ledger that holds only as
//     far as the Authority does. The election agrees in steady state, but
//     around a leader change two instances can both run a tick, or none
//     (see package elect). Use LEADERGATE_SCHEDULED_AT to make jobs
//     idempotent, or run with the ledger.
//   - Catch-up only with a Ledger and "# catch-up:" (or Options.CatchUp),
//     and then only the most recent missed tick. Otherwise ticks missed
//     while the scheduler was not running, or more than a minute late
//     (suspended VM, clock step), are skipped with a warning, not run
//     later.
//   - Jobs start within milliseconds of their tick on an idle machine, but
//     a leader-only job also waits for its election (and, with a ledger,
//     a follower for the takeover delay), and a job with "# jitter:" for
//     its delay.
//   - Processes that leave their job's process group (setsid, daemons) are
//     not signalled at shutdown.
package schedule
