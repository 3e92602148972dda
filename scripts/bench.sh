#!/usr/bin/env bash
# Prints leadergate's performance figures in one run (make bench). It never
# fails on a time: these machines are noisy, so read the figures side by side.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
sched_pid=""
cleanup() {
	[ -n "$sched_pid" ] && kill "$sched_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "== build (static, stripped, as released)"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/leadergate" .
ls -l "$tmp/leadergate" | awk '{printf "binary: %.1f MB\n", $5/1048576}'

# A fresh cached verdict, as the first check of the minute leaves it.
mkdir -m 0700 "$tmp/state"
printf '{"format":1,"self":"i-0bench","leader":true,"leader_id":"i-0bench","group_key":"elasticbeanstalk:environment-id","group":"e-bench","candidates":3,"at":"%s","reason":"bench"}\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/state/verdict.json"
touch "$tmp/marker"
export LEADERGATE_STATE_DIR="$tmp/state" LEADERGATE_MAX_AGE=1h LEADERGATE_MARKER=""
"$tmp/leadergate" check || { echo "cached check did not say leader" >&2; exit 1; }

echo
echo "== cached verdict, whole processes, side by side"
if command -v hyperfine >/dev/null; then
	hyperfine -N --style basic --warmup 50 --runs 1000 \
		"sh -c 'test -e $tmp/marker'" \
		"$tmp/leadergate check" 2>&1 | grep -E 'Benchmark|Time|±|faster'
	hyperfine -N --style basic --warmup 50 --runs 1000 \
		"sh -c 'test -e $tmp/marker && true'" \
		"$tmp/leadergate run -- true" 2>&1 | grep -E 'Benchmark|Time|±|faster'
else
	echo "(hyperfine not installed: apt-get install hyperfine; timing loops instead)"
	loop() { local s e; s=$(date +%s%N); for _ in $(seq 500); do "$@" >/dev/null; done; e=$(date +%s%N); echo "$(((e - s) / 500000))us/run  $*"; }
	loop sh -c "test -e $tmp/marker"
	loop "$tmp/leadergate" check
	loop sh -c "test -e $tmp/marker && true"
	loop "$tmp/leadergate" run -- true
fi
echo "(the same through Go's os/exec, with the election against the emulator:)"
go test -run '^$' -bench 'Process' -benchtime 300x . | grep -E '^Benchmark'

echo
echo "== full election (IMDS + one DescribeInstances), real SDK over HTTP"
go test -run '^$' -bench 'Election' -benchtime 100x ./elect/ | grep -E '^Benchmark'
echo "(BenchmarkElectionMoto is skipped when moto_server is not installed)"

echo
echo "== scale: API calls grow with the group, never with the region"
go test -count=1 -run 'TestScale' -v ./elect/ | grep -E 'DescribeInstances|PASS|FAIL'

echo
echo "== scheduler: idle RSS of the real binary with 100 jobs"
cp testdata/crontab/bench-100.cron "$tmp/leader-jobs.cron"
chmod 0600 "$tmp/leader-jobs.cron"
"$tmp/leadergate" schedule --assume follower --refresh 0s "$tmp/leader-jobs.cron" 2>/dev/null &
sched_pid=$!
sleep 3
awk '/VmRSS/ {printf "idle RSS, 100 jobs: %.1f MB\n", $2/1024}' "/proc/$sched_pid/status"
kill -TERM "$sched_pid"
wait "$sched_pid" && echo "stopped cleanly on SIGTERM"
sched_pid=""

echo
echo "== scheduler: how late jobs start behind their second"
go test -run '^$' -bench 'Lateness' -benchtime 1x ./schedule/ | grep -E '^Benchmark'
