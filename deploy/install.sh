#!/bin/sh
# Installs leadergate on an Elastic Beanstalk instance (Amazon Linux 2 or 2023).
#
# Elastic Beanstalk runs it as root from container_commands, in the staged
# application directory (/var/app/staging): after the bundle is staged,
# before it goes live. .ebextensions/leadergate.config embeds this exact text;
# deploy/install.sh in the leadergate repository is the source of truth.
#
# It fails the deployment, with one line naming the problem and the fix,
# rather than leave a half-installed or wrong binary behind.
#
# Settings (environment):
#   LEADERGATE_MODE     service (default): run "leadergate schedule" as the
#                       systemd unit leadergate.service; cron: install the
#                       binary only, for /etc/cron.d lines "leadergate run --"
#   LEADERGATE_USER     user that runs the jobs (default webapp, the user
#                       Elastic Beanstalk runs the application as)
#   LEADERGATE_CRONTAB  crontab in the bundle (default leader-jobs.cron)
#   LEADERGATE_GRACE_SECONDS  how long jobs get to stop after SIGTERM
#                       (default 30); systemd waits 15 s longer
#   LEADERGATE_ENV_FILE the environment properties file the jobs read
#                       (default /opt/elasticbeanstalk/deployment/env); it
#                       must exist, or the install fails; set it empty to
#                       run the jobs without one (outside Elastic Beanstalk)
#   LEADERGATE_BUNDLE   the staged application (default: current directory)
#   LEADERGATE_ROOT     install under this prefix instead of / (tests); with
#                       it set, systemd is only told to enable the unit
#                       offline (systemctl --root) and nothing is restarted
#   LEADERGATE_ARCH     overrides `uname -m` (tests)
#   LEADERGATE_VARIANT  unset or empty: the default binary,
#                       leadergate-linux-*, without metrics; metrics: the
#                       binary with Prometheus metrics,
#                       leadergate-metrics-linux-*, which
#                       LEADERGATE_METRICS_ADDR needs
#   LEADERGATE_VERSION  download the binary of this GitHub release (e.g.
#                       v1.2.3) instead of taking it from the bundle
#   LEADERGATE_URL      download from this base URL instead (its
#                       SHA256SUMS and the binary LEADERGATE_VARIANT names)
#   LEADERGATE_SHA256   with either: the SHA-256 of that release's
#                       SHA256SUMS, pinned; a mismatch fails the deployment
set -eu

root=${LEADERGATE_ROOT:-}
mode=${LEADERGATE_MODE:-service}
user=${LEADERGATE_USER:-webapp}
crontab_name=${LEADERGATE_CRONTAB:-leader-jobs.cron}
grace=${LEADERGATE_GRACE_SECONDS:-30}
bundle=${LEADERGATE_BUNDLE:-$PWD}
env_file=${LEADERGATE_ENV_FILE-/opt/elasticbeanstalk/deployment/env}
arch=${LEADERGATE_ARCH:-$(uname -m)}
variant=${LEADERGATE_VARIANT:-}

# Paths on the instance; $root is prepended only where files are written.
bin=/usr/local/bin/leadergate
marker_dir=/var/app/leader
marker=$marker_dir/leader-manager-is-leader
state_dir=/var/lib/leadergate
unit=/etc/systemd/system/leadergate.service
root_unit=/etc/systemd/system/leadergate-root.service
app=/var/app/current
# The crontabs live here, not in $app: the platform's web server may serve
# $app as its document root, and a crontab can hold secrets.
conf_dir=/etc/leadergate
root_crontab_name=leader-jobs.root.cron
# The scheduler's log file, where "eb logs" and log streaming look; the
# registrations below name it, logrotate rotates it.
log_dir=/var/log/leadergate

die() {
    echo "leadergate install: error: $*" >&2
    exit 1
}

# preflight BIN CRONTAB checks now, while the old version still serves,
# what the scheduler checks at start: the crontab, the election's
# configuration and, with the ledger (LEADERGATE_LEDGER), its table, keys,
# index and permissions. It reads the LEADERGATE_* and AWS_* settings of
# the environment file as the unit will. A configuration error fails the
# deployment here, before the new version goes live, instead of a unit
# that cannot start after it; a temporary failure (AWS unreachable) does
# not. It writes nothing: its own state dir, no marker, no tag, and a copy
# of the crontab owned by the user it runs as (the bundle's is webapp's).
preflight() {
    pf_state=$(mktemp -d)
    install -m 0600 "$2" "$pf_state/${2##*/}"
    pf_out=$(
        if [ -n "$env_file" ] && [ -f "$root$env_file" ]; then
            while IFS= read -r line || [ -n "$line" ]; do
                line=${line#"${line%%[![:space:]]*}"}
                case $line in
                LEADERGATE_*=* | AWS_*=*) ;;
                *) continue ;;
                esac
                name=${line%%=*}
                value=${line#*=}
                case $name in *[!A-Za-z0-9_]*) continue ;; esac
                case $value in
                \"*\") value=${value#\"} value=${value%\"} ;;
                \'*\') value=${value#\'} value=${value%\'} ;;
                esac
                export "$name=$value"
            done <"$root$env_file"
        fi
        LEADERGATE_STATE_DIR=$pf_state LEADERGATE_MARKER='' LEADERGATE_NO_TAG=true \
            "$1" schedule --preflight "$pf_state/${2##*/}" 2>&1
    ) && pf_code=0 || pf_code=$?
    rm -rf "$pf_state"
    if [ "$pf_code" -ne 0 ]; then
        printf '%s\n' "$pf_out" | grep -v '^time=' >&2 || true
        die "the scheduler would not start with this configuration (exit $pf_code, above): fix it and deploy again; the old version keeps running"
    fi
}

case $grace in
'' | *[!0-9]*) die "LEADERGATE_GRACE_SECONDS=$grace is not a whole number of seconds: use e.g. 30" ;;
esac

case $mode in
service | cron) ;;
*) die "LEADERGATE_MODE=$mode is not a mode: use service or cron" ;;
esac

# make dist builds two variants of each binary: leadergate-linux-*
# without metrics, which starts faster (it counts for cron lines), and
# leadergate-metrics-linux-* with them, for schedule --metrics-addr.
case $variant in
'') prefix=leadergate ;;
metrics) prefix=leadergate-metrics ;;
*) die "LEADERGATE_VARIANT=$variant is not a variant: use metrics, or leave it unset for the default binary" ;;
esac

# The bundle carries a binary per CPU architecture; pick this CPU's.
case $arch in
x86_64 | amd64) goarch=amd64 ;;
aarch64 | arm64) goarch=arm64 ;;
*) die "no leadergate binary for CPU architecture $arch: use an x86_64 or arm64 (Graviton) instance type" ;;
esac

name=$prefix-linux-$goarch
src_dir=$bundle/.leadergate
src=$src_dir/$name
dl=
trap 'rm -rf "$dl"' EXIT
# This script moves the binaries and crontabs out of the bundle and leaves
# this stamp instead. A bundle with the stamp and without .leadergate/ was
# installed from before (a configuration deployment running the container
# commands again on the live application): keep what is installed.
stamp=$bundle/.leadergate-installed
again=
if [ ! -e "$src_dir" ] && [ -f "$stamp" ] && [ -x "$root$bin" ]; then
    again=1
fi
# A release to download the binary from, instead of the bundle.
url=${LEADERGATE_URL:-}
[ -n "$url" ] || [ -z "${LEADERGATE_VERSION:-}" ] || url=https://github.com/leadergate/leadergate/releases/download/$LEADERGATE_VERSION

# Without the environment properties, jobs would run without their
# database credentials and fail in ways far from the cause.
if [ "$mode" = service ] && [ -n "$env_file" ] && [ ! -f "$root$env_file" ]; then
    die "$env_file not found: jobs would run without the environment properties; on Elastic Beanstalk use an Amazon Linux 2 or 2023 platform, elsewhere set LEADERGATE_ENV_FILE to your file, or empty for none"
fi
# A scheduler asked for metrics by a binary without them exits 78 at every
# start: fail the deployment instead, before anything is installed. Read
# the environment file as the unit's systemd does: the last assignment
# wins; quotes and blanks alone are an empty value, which turns metrics
# off.
if [ "$mode" = service ] && [ -n "$env_file" ]; then
    metrics_addr=$(sed -n 's/^[[:space:]]*LEADERGATE_METRICS_ADDR[[:space:]]*=//p' "$root$env_file" | tail -n 1 | tr -d "\"'[:space:]")
    # A release URL brings the variant's binary by itself.
    ship="dist/leadergate-metrics-linux-* in .leadergate/"
    [ -z "$url" ] || ship=
    if [ -n "$metrics_addr" ] && [ -n "$again" ]; then
        # The installed binary stays: ask it. One from before its version
        # line named the build is taken on trust (those releases all had
        # metrics).
        case $("$root$bin" version 2>/dev/null || true) in
        *", no metrics)") die "LEADERGATE_METRICS_ADDR is set in $env_file but $bin, installed from this application version before, has no metrics: deploy the application again with LEADERGATE_VARIANT=metrics${ship:+ and $ship} (or remove LEADERGATE_METRICS_ADDR)" ;;
        esac
    elif [ -n "$metrics_addr" ] && [ "$prefix" = leadergate ]; then
        die "LEADERGATE_METRICS_ADDR is set in $env_file but the default binary, $name, has no metrics: set LEADERGATE_VARIANT=metrics${ship:+ and put $ship} (or remove LEADERGATE_METRICS_ADDR)"
    fi
fi

# From a release URL: the pinned SHA-256 vouches for SHA256SUMS, which
# vouches for the binary (checked below as for a bundle's).
if [ -n "$url" ] && [ -z "$again" ]; then
    pin=${LEADERGATE_SHA256:-}
    [ -n "$pin" ] || die "LEADERGATE_SHA256 is not set: pin the SHA-256 of $url/SHA256SUMS (sha256sum SHA256SUMS)"
    dl=$(mktemp -d)
    for f in SHA256SUMS "$name"; do
        curl -fsSL --retry 2 --connect-timeout 10 --max-time 300 -o "$dl/$f" "$url/$f" 2>/dev/null ||
            die "cannot download $url/$f: check LEADERGATE_VERSION or LEADERGATE_URL and the instance's outbound access"
    done
    got=$(sha256sum "$dl/SHA256SUMS" | cut -d' ' -f1)
    [ "$got" = "$pin" ] || die "checksum mismatch: $url/SHA256SUMS has SHA-256 $got, LEADERGATE_SHA256 pins $pin; nothing installed"
    src_dir=$dl
    src=$dl/$name
fi
[ -n "$again" ] || [ -f "$src" ] || die "$src not found: run 'make dist' and copy dist/$prefix-linux-* into .leadergate/ of the application bundle"

id -u "$user" >/dev/null 2>&1 || die "user $user does not exist: set LEADERGATE_USER to the user that runs the application"
group=$(id -gn "$user")

if [ -z "$again" ]; then

# Verify the binary against SHA256SUMS when the bundle has it (make dist
# writes it next to the binaries): a truncated upload must not be installed.
if [ -f "$src_dir/SHA256SUMS" ]; then
    # Anchored: leadergate-linux-amd64 must not match the line of
    # leadergate-metrics-linux-amd64, nor the other way round.
    sums=$(grep "[ *]$name\$" "$src_dir/SHA256SUMS" || true)
    [ -n "$sums" ] || die "$src_dir/SHA256SUMS has no line for $name: copy the SHA256SUMS written by the same 'make dist'"
    (cd "$src_dir" && printf '%s\n' "$sums" | sha256sum -c --status) ||
        die "$src does not match $src_dir/SHA256SUMS: copy both again from the same 'make dist'"
fi

# Copy under a temporary name in the target directory, then rename: a
# running scheduler or cron job never sees a half-written binary.
mkdir -p "$root/usr/local/bin"
tmp=$root$bin.new.$$
trap 'rm -f "$tmp"; rm -rf "$dl"' EXIT
install -m 0755 "$src" "$tmp"
# Run the new binary before it replaces the old one: a wrong or corrupt
# binary fails here ("exec format error") and the old one stays.
build=$("$tmp" version) || die "$src does not run on this instance ($arch): rebuild it with 'make dist'"
# Its version line names the build: a default binary under the metrics
# variant's name would refuse --metrics-addr at every start.
if [ "$prefix" = leadergate-metrics ]; then
    case $build in
    *", metrics)") ;;
    *)
        [ -z "$url" ] || die "$url/$name is not the build with metrics (its version: $build): check LEADERGATE_VERSION or LEADERGATE_URL"
        die "$src is not the build with metrics (its version: $build): copy dist/leadergate-metrics-linux-* and SHA256SUMS of one 'make dist' into .leadergate/"
        ;;
    esac
fi

if [ "$mode" = service ]; then
    crontab=$bundle/$crontab_name
    [ -f "$crontab" ] || die "$crontab_name not found in the application bundle: add it, or use leadergate-cron.config.example for /etc/cron.d lines instead"
    # leadergate, like cron, refuses a crontab that group or others can
    # write; a zip made on another machine may carry such modes.
    chmod go-w "$crontab"
    # A crontab with errors, or with warnings (a time in a DST gap, a
    # misspelt directive), fails this deployment (file:line on stderr)
    # instead of going live.
    "$tmp" schedule --check --strict "$crontab" ||
        die "$crontab_name has errors or warnings (listed above): fix them and deploy again"
    root_crontab=$bundle/$root_crontab_name
    if [ -f "$root_crontab" ]; then
        chmod go-w "$root_crontab"
        "$tmp" schedule --check --strict "$root_crontab" ||
            die "$root_crontab_name has errors or warnings (listed above): fix them and deploy again"
    fi
fi

[ "$mode" != service ] || preflight "$tmp" "$crontab"

mv -f "$tmp" "$root$bin"
trap - EXIT
[ -z "$dl" ] || rm -rf "$dl"
fi
# A configuration deployment (new environment properties: a ledger table,
# a setting) is checked with the kept binary and crontab.
if [ -n "$again" ] && [ "$mode" = service ] && [ -f "$root$conf_dir/leader-jobs.cron" ]; then
    preflight "$root$bin" "$root$conf_dir/leader-jobs.cron"
fi

# The legacy marker directory: "test -e $marker && ..." crontab lines of the
# leader manager keep working. The jobs' user must be able to replace the
# marker; everyone may read it.
install -d -m 0755 -o "$user" -g "$group" "$root$marker_dir"
# The verdict cache and lock: leadergate refuses a state dir that another
# user owns or others can write.
install -d -m 0700 -o "$user" -g "$group" "$root$state_dir"

# The binaries have been copied out: remove them from the bundle, so that
# /var/app/current, which the web server may serve, never holds them.
rm -rf "$bundle/.leadergate"
echo "leadergate install: .leadergate/ and the crontabs were moved out of this directory (see /etc/leadergate)" >"$stamp"
installed="installed $bin ($goarch)"
[ "$prefix" = leadergate ] || installed="installed $bin ($goarch, with metrics)"
[ -z "$again" ] || installed="kept $bin (this bundle was installed before)"

# systemctl, or a no-op when there is none (a test root without systemd).
systemctl_() {
    if command -v systemctl >/dev/null 2>&1; then
        if [ -n "$root" ]; then
            systemctl --root="$root" "$@"
        else
            systemctl "$@"
        fi
    fi
}

# remove_unit stops, disables and deletes a unit this script wrote.
remove_unit() {
    if [ -f "$root/etc/systemd/system/$1" ]; then
        [ -n "$root" ] || systemctl_ stop "$1" || true
        systemctl_ disable "$1" || true
        rm -f "$root/etc/systemd/system/$1"
        [ -n "$root" ] || systemctl_ daemon-reload
    fi
}

if [ "$mode" = cron ]; then
    # Switching from the service to cron lines: never run both.
    remove_unit leadergate.service
    remove_unit leadergate-root.service
    echo "leadergate install: $installed for cron lines"
    exit 0
fi

# The crontabs move out of the bundle into $conf_dir, readable by the jobs'
# group only. They are staged as *.next and put in place by the postdeploy
# hook, so the scheduler never reads new jobs while the old version of the
# application is still live. root-owned: leadergate accepts a crontab owned
# by root or by the user running it, and only root may change these.
install -d -m 0755 "$root$conf_dir"
if [ -z "$again" ]; then
    install -m 0640 -o 0 -g "$group" "$crontab" "$root$conf_dir/leader-jobs.cron.next"
    rm -f "$crontab"
    if [ -f "$root_crontab" ]; then
        install -m 0600 -o 0 -g 0 "$root_crontab" "$root$conf_dir/$root_crontab_name.next"
        rm -f "$root_crontab"
    else
        rm -f "$root$conf_dir/$root_crontab_name.next" "$root$conf_dir/$root_crontab_name"
    fi
fi

# systemd's version (0 when unknown): before 240 the units log through
# --log-file (write_unit).
systemd_version=$(systemctl_ --version 2>/dev/null | awk 'NR == 1 { print $2 + 0 }')
systemd_version=${systemd_version:-0}

# The log directory: systemd appends to its files as root; operators read
# them with sudo, "eb logs" and log streaming as root.
install -d -m 0750 -o 0 -g "$group" "$root$log_dir"
# "eb logs" (tail: last 100 lines) and "eb logs --all" (bundle) collect the
# files listed in taillogs.d and bundlelogs.d; publishlogs.d lists the
# rotated files uploaded to S3 when log rotation to S3 is on.
for task in taillogs bundlelogs; do
    install -d -m 0755 "$root/opt/elasticbeanstalk/tasks/$task.d"
    printf '%s\n' "$log_dir/*.log" >"$root/opt/elasticbeanstalk/tasks/$task.d/leadergate.conf"
done
install -d -m 0755 "$root/opt/elasticbeanstalk/tasks/publishlogs.d"
printf '%s\n' "$log_dir/*.gz" >"$root/opt/elasticbeanstalk/tasks/publishlogs.d/leadergate.conf"
# Daily, compressed, 14 kept; copytruncate because systemd keeps the file
# open (it appends, so the truncated file is simply written from the start).
install -d -m 0755 "$root/etc/logrotate.d"
cat >"$root/etc/logrotate.d/leadergate" <<EOF
# Written by the leadergate install script on every deployment.
$log_dir/*.log {
    daily
    maxsize 50M
    rotate 14
    dateext
    dateformat -%Y%m%d-%s
    compress
    missingok
    notifempty
    copytruncate
}
EOF

# write_unit FILE USER GROUP CRONTAB STATE_DIR EXTRA_ENV NAME HARDENING
# [FLAGS] writes a scheduler unit.
# The service runs as the application user: jobs must create files the
# application can read, as the cron lines they replace did. Electing needs
# only IMDS and the instance profile, which any user can reach.
# EnvironmentFile: the environment properties Elastic Beanstalk gives the
# application (the file its own web.service reads), so jobs see the same
# variables; its values override the Environment= lines, so LEADERGATE_*
# environment properties configure leadergate too. Required: without it
# the unit does not start, rather than run jobs without their settings.
# KillMode=mixed: SIGTERM goes to leadergate only, which passes it to the
# jobs' process groups and waits --grace; whatever is left when
# TimeoutStopSec (longer than the grace) expires is killed.
# StandardOutput/StandardError: appended to a file under $log_dir, where
# "eb logs" and log streaming find it (the journal keeps systemd's own
# start and stop lines). systemd before 240 (Amazon Linux 2 has 219)
# ignores append:, so there the scheduler writes the file itself
# (--log-file, created here for its user) and the journal gets what it
# prints before its log is open.
write_unit() {
    env_line=
    [ -z "$env_file" ] || env_line="EnvironmentFile=$env_file"
    log_file=$log_dir/${7}.log
    output="StandardOutput=append:$log_file
StandardError=append:$log_file"
    log_flag=
    if [ "$systemd_version" -gt 0 ] && [ "$systemd_version" -lt 240 ]; then
        [ -e "$root$log_file" ] || install -m 0640 -o "$2" -g "$3" /dev/null "$root$log_file"
        output="StandardOutput=journal
StandardError=journal"
        log_flag="--log-file $log_file "
    fi
    cat >"$root$1.new" <<EOF
# Written by the leadergate install script (.ebextensions/leadergate.config).
# Overwritten on every deployment: change the install script, or add a
# drop-in (systemctl edit ${1##*/}), not this file.
[Unit]
Description=leadergate scheduler: leader-only jobs from $4 as $2
Documentation=https://github.com/leadergate/leadergate/blob/main/docs/elastic-beanstalk.md
Wants=network-online.target
After=network-online.target
# Never give up restarting after a temporary failure: $app appears only
# after the first deployment.
StartLimitIntervalSec=0

[Service]
# notify: READY=1 once the schedule is loaded (a bad crontab fails the
# start instead of leaving it active and useless); the watchdog restarts a
# scheduler whose loop stops going round.
Type=notify
NotifyAccess=main
WatchdogSec=60s
User=$2
Group=$3
WorkingDirectory=$app
Environment=LEADERGATE_STATE_DIR=$5
$6
$env_line
ExecStart=$bin schedule --grace ${grace}s $log_flag${9:+$9 }$4
ExecReload=/bin/kill -HUP \$MAINPID
Restart=always
# 78 is a configuration error no restart fixes (the crontab, the ledger's
# table or permissions): stay failed, saying so, instead of retrying it
# every 10 s forever. 64 (usage) and 65 (a bad crontab) likewise.
RestartPreventExitStatus=64 65 78
RestartSec=10s
KillMode=mixed
TimeoutStopSec=$((grace + 15))s
SyslogIdentifier=$7
$output
$8

[Install]
WantedBy=multi-user.target
EOF
    chmod 0644 "$root$1.new"
    mv -f "$root$1.new" "$root$1"
}

# The restrictions on the application user's jobs, each for a reason. They
# hold for the jobs too: docs/elastic-beanstalk.md lists what a job can no
# longer do and how to relax it (a drop-in with systemctl edit).
# What is left open on purpose: the network (IMDS, AWS and the jobs' own
# services), writing wherever the user may under /var and /tmp (the
# application's own directories), JIT compilers (MemoryDenyWriteExecute
# would break PHP's JIT, Node and Java), any system call (jobs are
# arbitrary programs), and the user's IPC objects (RemoveIPC would remove
# those of the web application, which runs as the same user).
hardening=$(
    cat <<'EOF'
# No privileges gained through setuid binaries: sudo or su in a job fails.
NoNewPrivileges=yes
# /usr, /boot, /efi and /etc read-only, even for a setuid helper.
ProtectSystem=full
# /home, /root and /run/user hidden: jobs need no one's home directory.
ProtectHome=yes
# A private /tmp, emptied when the service restarts: no races with other users.
PrivateTmp=yes
# Only pseudo-devices (null, zero, random, tty...) in /dev: no disks.
PrivateDevices=yes
# /proc/sys and /sys read-only: no sysctl changes.
ProtectKernelTunables=yes
# No kernel module loading.
ProtectKernelModules=yes
# No kernel log buffer.
ProtectKernelLogs=yes
# /sys/fs/cgroup read-only.
ProtectControlGroups=yes
# No setting the system clock.
ProtectClock=yes
# No changing the host name.
ProtectHostname=yes
# No creating setuid or setgid files.
RestrictSUIDSGID=yes
# No switching the execution domain (personality(2)).
LockPersonality=yes
# No realtime scheduling that could starve the web application.
RestrictRealtime=yes
# No new namespaces (unshare, rootless containers).
RestrictNamespaces=yes
# Native system calls only: no 32-bit x86 binaries on x86_64.
SystemCallArchitectures=native
# No capabilities, even from a setuid binary.
CapabilityBoundingSet=
AmbientCapabilities=
# Sockets: local, IPv4, IPv6 and netlink (glibc's getaddrinfo uses it).
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# Files the jobs create are not readable by other users.
UMask=0027
EOF
)

# Root jobs replace root cron lines (certbot, backups, package updates):
# they keep write access to the system, the devices, sysctl and setuid
# files (package updates need them), and lose only what such jobs never use.
root_hardening=$(
    cat <<'EOF'
# No kernel module loading.
ProtectKernelModules=yes
# No kernel log buffer.
ProtectKernelLogs=yes
# /sys/fs/cgroup read-only.
ProtectControlGroups=yes
# No setting the system clock.
ProtectClock=yes
# No changing the host name.
ProtectHostname=yes
# No switching the execution domain (personality(2)).
LockPersonality=yes
# No realtime scheduling that could starve the web application.
RestrictRealtime=yes
# No new namespaces (unshare, podman); docker run goes through its daemon.
RestrictNamespaces=yes
# Native system calls only: no 32-bit x86 binaries on x86_64.
SystemCallArchitectures=native
# Sockets: local, IPv4, IPv6 and netlink (glibc's getaddrinfo uses it).
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# Files root jobs create are readable by the application, as from cron.
UMask=0022
EOF
)

mkdir -p "$root/etc/systemd/system"
write_unit "$unit" "$user" "$group" "$conf_dir/leader-jobs.cron" "$state_dir" \
    "Environment=LEADERGATE_MARKER=$marker" leadergate "$hardening"

# Jobs that ran as root (leader-jobs.root.cron in the bundle): a second
# scheduler, as root, with its own state, no marker and no tagging (the
# first one keeps both current; the election is the same), and no metrics:
# it reads the same environment file, and two schedulers cannot both listen
# on its LEADERGATE_METRICS_ADDR (the flag overrides the file); and no
# lifecycle powers (--no-lifecycle): only the main unit drains the instance
# when it stops, or on a Spot or Auto Scaling notice. Its jobs are named
# root/NAME (--namespace root): a job named alike in both crontabs is two
# jobs in the tick ledger, not one key each scheduler finds taken.
units=leadergate.service
if [ -f "$root$conf_dir/$root_crontab_name.next" ] || [ -f "$root$conf_dir/$root_crontab_name" ]; then
    install -d -m 0700 -o 0 -g 0 "$root$state_dir-root"
    write_unit "$root_unit" root root "$conf_dir/$root_crontab_name" "$state_dir-root" \
        "Environment=LEADERGATE_MARKER= LEADERGATE_NO_TAG=true" leadergate-root "$root_hardening" "--metrics-addr= --no-lifecycle --namespace root"
    units="$units leadergate-root.service"
else
    remove_unit leadergate-root.service
fi

# Reload or restart after every deployment, once /var/app/current is the
# new version: doing it here, before it goes live, would keep the old
# directory and crontab. A restart (running jobs get SIGTERM and the grace
# period) only when what the scheduler was started from changed: the
# binary, a unit file or drop-in, or the environment file (the hook compares their
# checksums with those of the last restart); otherwise a reload (SIGHUP:
# the scheduler re-reads its crontab, running jobs keep running). Platform hooks in the staged bundle run at the end of the
# deployment: hooks/ on application deployments, confighooks/ on
# configuration deployments (new environment properties). Written on every
# deployment, so they need not be in the bundle.
# CloudWatch Logs: when log streaming (aws:elasticbeanstalk:cloudwatch:logs)
# is on, Elastic Beanstalk runs the CloudWatch agent; the hook adds the log
# file to it (.ebextensions/leadergate.config writes the agent's config).
# A configuration deployment that turns streaming on rewrites the agent's
# configuration, hence the hook for confighooks too.
started_from="$root$bin $root$unit"
[ "$units" = leadergate.service ] || started_from="$started_from $root$root_unit"
[ -z "$env_file" ] || started_from="$started_from $root$env_file"
# Drop-ins (.ebextensions files: write them before this script runs).
for dropin in "$root$unit.d"/*.conf "$root$root_unit.d"/*.conf; do
    [ ! -f "$dropin" ] || started_from="$started_from $dropin"
done
for kind in hooks confighooks; do
    hook=$bundle/.platform/$kind/postdeploy/99_leadergate.sh
    mkdir -p "${hook%/*}"
    cat >"$hook" <<EOF
#!/bin/sh
# Written by the leadergate install script: put the new crontabs in place
# and reload the scheduler now that /var/app/current is the new version:
# SIGHUP, it re-reads the crontab and running jobs keep running. A new
# binary, unit or environment file needs a restart instead: running jobs
# get SIGTERM and the grace period.
set -e
for tab in $root$conf_dir/leader-jobs.cron $root$conf_dir/$root_crontab_name; do
    if [ -f "\$tab.next" ]; then
        mv -f "\$tab.next" "\$tab"
    fi
done
started=$root$conf_dir/started.sha256
sums=\$(sha256sum $started_from)
if [ -f "\$started" ] && [ "\$(cat "\$started")" = "\$sums" ]; then
    systemctl reload-or-restart $units
else
    systemctl restart $units
    printf '%s\n' "\$sums" >"\$started"
fi
ctl=/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl
agent=/opt/aws/amazon-cloudwatch-agent/etc/leadergate.json
if [ -x "\$ctl" ] && [ -f "\$agent" ] && "\$ctl" -a status 2>/dev/null | grep -q '"status": *"running"'; then
    "\$ctl" -a append-config -m ec2 -s -c "file:\$agent" >/dev/null
fi
EOF
    chmod 0755 "$hook"
done

# Start at boot too. The first start happens in the postdeploy hook.
if [ -z "$root" ]; then
    systemctl_ daemon-reload
fi
# shellcheck disable=SC2086 # $units is a list of unit names
systemctl_ enable $units
echo "leadergate install: $installed and $units; they reload (or restart, for a new binary) after this deployment"
