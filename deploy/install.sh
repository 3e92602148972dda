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
#   LEADERGATE_BUNDLE   the staged application (default: current directory)
#   LEADERGATE_ROOT     install under this prefix instead of / (tests); with
#                       it set, systemd is only told to enable the unit
#                       offline (systemctl --root) and nothing is restarted
#   LEADERGATE_ARCH     overrides `uname -m` (tests)
set -eu

root=${LEADERGATE_ROOT:-}
mode=${LEADERGATE_MODE:-service}
user=${LEADERGATE_USER:-webapp}
crontab_name=${LEADERGATE_CRONTAB:-leader-jobs.cron}
grace=${LEADERGATE_GRACE_SECONDS:-30}
bundle=${LEADERGATE_BUNDLE:-$PWD}
arch=${LEADERGATE_ARCH:-$(uname -m)}

# Paths on the instance; $root is prepended only where files are written.
bin=/usr/local/bin/leadergate
marker_dir=/var/app/leader
marker=$marker_dir/leader-manager-is-leader
state_dir=/var/lib/leadergate
unit=/etc/systemd/system/leadergate.service
app=/var/app/current

die() {
    echo "leadergate install: error: $*" >&2
    exit 1
}

case $grace in
'' | *[!0-9]*) die "LEADERGATE_GRACE_SECONDS=$grace is not a whole number of seconds: use e.g. 30" ;;
esac

case $mode in
service | cron) ;;
*) die "LEADERGATE_MODE=$mode is not a mode: use service or cron" ;;
esac

# The bundle carries both release binaries; pick the one for this CPU.
case $arch in
x86_64 | amd64) goarch=amd64 ;;
aarch64 | arm64) goarch=arm64 ;;
*) die "no leadergate binary for CPU architecture $arch: use an x86_64 or arm64 (Graviton) instance type" ;;
esac

src_dir=$bundle/.leadergate
src=$src_dir/leadergate-linux-$goarch
[ -f "$src" ] || die "$src not found: run 'make dist' and copy dist/leadergate-linux-* into .leadergate/ of the application bundle"

id -u "$user" >/dev/null 2>&1 || die "user $user does not exist: set LEADERGATE_USER to the user that runs the application"
group=$(id -gn "$user")

# Verify the binary against SHA256SUMS when the bundle has it (make dist
# writes it next to the binaries): a truncated upload must not be installed.
if [ -f "$src_dir/SHA256SUMS" ]; then
    sums=$(grep "[ *]leadergate-linux-$goarch\$" "$src_dir/SHA256SUMS" || true)
    [ -n "$sums" ] || die "$src_dir/SHA256SUMS has no line for leadergate-linux-$goarch: copy the SHA256SUMS written by the same 'make dist'"
    (cd "$src_dir" && printf '%s\n' "$sums" | sha256sum -c --status) ||
        die "$src does not match $src_dir/SHA256SUMS: copy both again from the same 'make dist'"
fi

# Copy under a temporary name in the target directory, then rename: a
# running scheduler or cron job never sees a half-written binary.
mkdir -p "$root/usr/local/bin"
tmp=$root$bin.new.$$
trap 'rm -f "$tmp"' EXIT
install -m 0755 "$src" "$tmp"
# Run the new binary before it replaces the old one: a wrong or corrupt
# binary fails here ("exec format error") and the old one stays.
"$tmp" version >/dev/null || die "$src does not run on this instance ($arch): rebuild it with 'make dist'"

if [ "$mode" = service ]; then
    crontab=$bundle/$crontab_name
    [ -f "$crontab" ] || die "$crontab_name not found in the application bundle: add it, or use leadergate-cron.config.example for /etc/cron.d lines instead"
    # leadergate, like cron, refuses a crontab that group or others can
    # write; a zip made on another machine may carry such modes.
    chmod go-w "$crontab"
    # A crontab with errors fails this deployment (file:line on stderr)
    # instead of going live.
    "$tmp" schedule --check "$crontab" ||
        die "$crontab_name has errors (listed above): fix them and deploy again"
fi

mv -f "$tmp" "$root$bin"
trap - EXIT

# The legacy marker directory: "test -e $marker && ..." crontab lines of the
# leader manager keep working. The jobs' user must be able to replace the
# marker; everyone may read it.
install -d -m 0755 -o "$user" -g "$group" "$root$marker_dir"
# The verdict cache and lock: leadergate refuses a state dir that another
# user owns or others can write.
install -d -m 0700 -o "$user" -g "$group" "$root$state_dir"

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

if [ "$mode" = cron ]; then
    # Switching from the service to cron lines: never run both.
    if [ -f "$root$unit" ]; then
        [ -n "$root" ] || systemctl_ stop leadergate.service || true
        systemctl_ disable leadergate.service || true
        rm -f "$root$unit"
        [ -n "$root" ] || systemctl_ daemon-reload
    fi
    echo "leadergate install: installed $bin ($goarch) for cron lines"
    exit 0
fi

# The service runs as the application user: jobs must create files the
# application can read, as the cron lines they replace did. Electing needs
# only IMDS and the instance profile, which any user can reach.
# EnvironmentFile: the environment properties Elastic Beanstalk gives the
# application (the file its own web.service reads), so jobs see the same
# variables; its values override the Environment= lines, so LEADERGATE_*
# environment properties configure leadergate too.
# KillMode=mixed: SIGTERM goes to leadergate only, which passes it to the
# jobs' process groups and waits --grace; whatever is left when
# TimeoutStopSec (longer than the grace) expires is killed.
mkdir -p "$root/etc/systemd/system"
cat >"$root$unit.new" <<EOF
# Written by the leadergate install script (.ebextensions/leadergate.config).
# Overwritten on every deployment: change the install script, not this file.
[Unit]
Description=leadergate scheduler: leader-only jobs from $app/$crontab_name
Documentation=https://github.com/leadergate/leadergate
Wants=network-online.target
After=network-online.target
# Never give up restarting: $app appears only after the first deployment.
StartLimitIntervalSec=0

[Service]
Type=simple
User=$user
Group=$group
WorkingDirectory=$app
Environment=LEADERGATE_STATE_DIR=$state_dir
Environment=LEADERGATE_MARKER=$marker
EnvironmentFile=-/opt/elasticbeanstalk/deployment/env
ExecStart=$bin schedule --grace ${grace}s $app/$crontab_name
ExecReload=/bin/kill -HUP \$MAINPID
Restart=always
RestartSec=10s
KillMode=mixed
TimeoutStopSec=$((grace + 15))s
SyslogIdentifier=leadergate

[Install]
WantedBy=multi-user.target
EOF
chmod 0644 "$root$unit.new"
mv -f "$root$unit.new" "$root$unit"

# Restart after every deployment, once /var/app/current is the new version:
# restarting here, before it goes live, would keep the old directory and
# crontab. Platform hooks in the staged bundle run at the end of the
# deployment: hooks/ on application deployments, confighooks/ on
# configuration deployments (new environment properties). Written on every
# deployment, so they need not be in the bundle.
for kind in hooks confighooks; do
    hook=$bundle/.platform/$kind/postdeploy/99_leadergate.sh
    mkdir -p "${hook%/*}"
    cat >"$hook" <<'EOF'
#!/bin/sh
# Written by the leadergate install script: restart the scheduler now that
# /var/app/current is the new version. It reads the new crontab and the new
# environment properties; running jobs get SIGTERM and the grace period.
exec systemctl restart leadergate.service
EOF
    chmod 0755 "$hook"
done

# Start at boot too. The first start happens in the postdeploy hook.
if [ -z "$root" ]; then
    systemctl_ daemon-reload
fi
systemctl_ enable leadergate.service
echo "leadergate install: installed $bin ($goarch) and $unit; it restarts after this deployment"
