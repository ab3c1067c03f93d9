#!/bin/bash
# Runs INSIDE the systemd lab guest as kernel-command-line.service (lab/run-systemd.sh), root,
# with systemd as PID 1. The guest's root is the host's, read-only: this script gives the guest
# throwaway tmpfs overlays for the paths the tests write (/etc, /opt, /var, /usr/local, /root,
# /tmp), then runs pytest on tests/lab/systemd. The host only ever sees the results directory.
set -uo pipefail

RES="$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^vfbond_lab_results=//p')"
log() { printf '[systemd-lab guest %s] %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$*" | tee -a "$RES/guest.log"; }
fatal() { echo "$*" > "$RES/fatal"; log "FATAL: $*"; exit 1; }

# The overlays below hide whatever sits under /tmp, /var or /root: the checkout (a clone under
# /tmp or /var/tmp) and the results dir in it. Keep a view of both in /run and put them back after.
HOLD=/run/vfbond-lab/hold
mkdir -p "$HOLD/host" "$HOLD/results"
mount --bind / "$HOLD/host"  # not recursive: the host's root as exported, under no guest mount
# The results dir is exported by vng but, without virtme-ng-init, mounted by nobody: mount it.
fstype="$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^virtme_initmount0_fstype=//p')"
case "$fstype" in
    virtiofs) mount -t virtiofs virtme.initmount0 "$HOLD/results" ;;
    *) mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 virtme.initmount0 "$HOLD/results" ;;
esac || { echo "cannot mount the results dir $RES ($fstype)" > /dev/console; exit 1; }
mkdir -p "$RES" 2>/dev/null
mount --bind "$HOLD/results" "$RES" || { echo "cannot bind the results dir to $RES" > /dev/console; exit 1; }
echo "booted $(cut -d' ' -f1 /proc/uptime)" > "$RES/booted"
log "systemd $(systemctl --version | head -1 | cut -d' ' -f2) is PID 1 ($(cat /proc/1/comm)); kernel $(uname -r)"
# shellcheck disable=SC1091
. "$RES/guest.env"

OVL=/run/vfbond-lab/overlay
mkdir -p "$OVL"  # /run is already a tmpfs
for dir in /etc /opt /var /usr/local /root; do
    name="${dir//\//_}"
    mkdir -p "$OVL/$name/upper" "$OVL/$name/work"
    mount -t overlay overlay -o "lowerdir=$dir,upperdir=$OVL/$name/upper,workdir=$OVL/$name/work" "$dir" \
        || fatal "overlay on $dir failed"
done
mount -t tmpfs -o mode=1777 tmpfs /tmp || fatal "tmpfs on /tmp failed"
mkdir -p /var/tmp && chmod 1777 /var/tmp
for path in "$LAB_ROOT" "$LAB_VENV" "$LAB_WHEELHOUSE"; do  # the checkout (and a venv kept elsewhere) back
    [ -e "$path" ] && [ -n "$(ls -A "$path" 2>/dev/null)" ] && continue
    mkdir -p "$path" && mount --bind -o ro "$HOLD/host$path" "$path" || fatal "cannot bind $path back"
done
mkdir -p "$RES" && mount --bind "$HOLD/results" "$RES" || fatal "cannot bind the results dir back to $RES"
log "checkout $LAB_ROOT, results $RES"
# Units installed under the new /etc must be seen.
systemctl daemon-reload || fatal "systemctl daemon-reload failed"

export VFBOND_LAB_GUEST=1 VFBOND_LAB_SYSTEMD=1
export VFBOND_LAB_RESULTS="$RES" VFBOND_LAB_WHEELHOUSE="$LAB_WHEELHOUSE"
export PATH="$LAB_VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export HOME=/root TMPDIR=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LC_ALL=C.UTF-8

cd "$LAB_ROOT" || fatal "cannot cd to $LAB_ROOT"
log "running pytest tests/lab/systemd ${PYTEST_ARGS[*]}"
python -m pytest -p no:cacheprovider -v -s --junitxml="$RES/junit.xml" -o junit_family=xunit2 \
    tests/lab/systemd "${PYTEST_ARGS[@]}" 2>&1 | tee -a "$RES/guest.log"
RC=${PIPESTATUS[0]}
log "pytest exit $RC"
journalctl -b --no-pager -o short-monotonic > "$RES/journal.txt" 2>&1
echo "$RC" > "$RES/rc.tmp" && mv "$RES/rc.tmp" "$RES/rc"
sync
exit "$RC"
