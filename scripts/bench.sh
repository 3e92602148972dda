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
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/baseline" ./scripts/baseline
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
# median of each command, and leadergate's ratio to the shell test beside it
side_by_side() {
	hyperfine -N --style none --warmup 50 --runs 1000 --export-json "$tmp/h.json" "$@" >/dev/null 2>&1
	python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
r = json.load(open(tmp + "/h.json"))["results"]
base = r[0]["median"]
for x in r:
    print(f"  {x['median'] * 1000:6.2f} ms  {x['command'].replace(tmp, '$tmp'):45s} ({x['median'] / base:.1f}x)")
PY
}
if command -v hyperfine >/dev/null && command -v python3 >/dev/null; then
	echo "medians of 1000 runs (hyperfine -N):"
	side_by_side "sh -c 'test -e $tmp/marker'" "$tmp/leadergate check" "$tmp/baseline"
	# `true` is a shell builtin: the first line execs nothing after the test,
	# the second execs /bin/true as leadergate must.
	side_by_side "sh -c 'test -e $tmp/marker && true'" "$tmp/leadergate run -- true" "sh -c 'test -e $tmp/marker && /bin/true'"
else
	echo "(hyperfine not installed: apt-get install hyperfine; timing loops instead)"
	loop() { local s e; s=$(date +%s%N); for _ in $(seq 500); do "$@" >/dev/null; done; e=$(date +%s%N); echo "$(((e - s) / 500000))us/run  $*"; }
	loop sh -c "test -e $tmp/marker"
	loop "$tmp/leadergate" check
	loop sh -c "test -e $tmp/marker && true"
	loop "$tmp/leadergate" run -- true
fi
echo "(the same through Go's os/exec, with the test binary standing in for leadergate and the emulator behind it:)"
go test -run '^$' -bench 'Process' -benchtime 300x . | grep -E '^Benchmark'

echo
echo "== full election (IMDS + one DescribeInstances), real SDK over HTTP"
go test -run '^$' -bench 'Election' -benchtime 100x -benchmem ./elect/ | grep -E '^Benchmark'
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
