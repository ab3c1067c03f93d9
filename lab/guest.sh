#!/usr/bin/env bash
# Runs INSIDE the lab guest (started by lab/run.sh through vng --exec).
# $1 = results dir: the only host directory the guest can write to.
# Host / is mounted read-only; /etc /usr /var /tmp /home ... are tmpfs overlays
# (writes vanish with the guest); $HOME (/root) and the repo are read-only.
# One function, parsed in full before it runs (the host can edit this file meanwhile).
main() {
set -uo pipefail
local RES="$1" RC T0 T1
echo "booted $(cut -d' ' -f1 /proc/uptime)" > "$RES/booted" || { echo "lab guest: cannot write to $RES" >&2; exit 1; }
# shellcheck disable=SC1091
. "$RES/guest.env"

fatal() { echo "$*" > "$RES/fatal"; printf '\n!!! lab guest: %s\n' "$*" >&2; exit 1; }

echo "[lab guest] up after $(cut -d' ' -f1 /proc/uptime)s guest-uptime; kernel $(uname -r)"

export VFBOND_LAB_GUEST=1
export VFBOND_LAB_RESULTS="$LAB_RESULTS"
export VIRTUAL_ENV="$LAB_VENV"
export PATH="$LAB_VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export HOME=/tmp/vfbond-lab-home          # /root is read-only in the guest
export TMPDIR=/tmp
export PYTHONDONTWRITEBYTECODE=1          # repo is read-only: no __pycache__
export PYTHONUNBUFFERED=1                 # stream output to the host as it happens
export LC_ALL=C.UTF-8
mkdir -p "$HOME"

# Python runtime snapshots (lab/run.sh): mount them over the 9p paths, read-only.
local b serial dev target t0
t0="$(cut -d' ' -f1 /proc/uptime)"
if ls /sys/block/ 2>/dev/null | grep -q '^vd' || modprobe virtio_blk 2>/dev/null; then
    modprobe squashfs 2>/dev/null
    udevadm settle --timeout=30 2>/dev/null
    for b in /sys/block/vd*; do
        [ -e "$b/serial" ] || continue
        serial="$(cat "$b/serial")"; dev="/dev/${b##*/}"; target=""
        case "$serial" in
            vfbvenv) target="$LAB_VENV" ;;
            vfbpy)   target="${LAB_PYPREFIX:-}" ;;
        esac
        [ -n "$target" ] || continue
        if mount -t squashfs -o ro "$dev" "$target"; then
            echo "[lab guest] $target: squashfs snapshot ($serial)"
        else
            echo "[lab guest] WARNING: could not mount $serial over $target; using 9p (slow imports)" >&2
        fi
    done
fi
echo "[lab guest] runtime mounts took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{printf "%.1f", b-a}')s"

modprobe bonding max_bonds=0 2>"$RES/modprobe.err" \
    || fatal "modprobe bonding failed in the guest (kernel $(uname -r)): $(cat "$RES/modprobe.err")"
[ -d /sys/module/bonding ] || fatal "bonding module not present after modprobe"
[ -e /sys/class/net/bond0 ] && fatal "bond0 exists although max_bonds=0 was requested"
rm -f "$RES/modprobe.err"

cd "$LAB_ROOT" || fatal "cannot cd to $LAB_ROOT"
# default target tests/lab, unless the caller named test paths (tests/lab/x.py::test_y)
local TARGET=(tests/lab) a
for a in "${PYTEST_ARGS[@]}"; do
    case "$a" in -*) continue;; esac
    [ -e "${a%%::*}" ] && TARGET=() && break
done
echo "[lab guest] running: python -m pytest -m '$LAB_MARK' ${TARGET[*]} ${PYTEST_ARGS[*]}"
T0="$(cut -d' ' -f1 /proc/uptime)"
python -m pytest -p no:cacheprovider -m "$LAB_MARK" --junitxml="$RES/junit.xml" \
    -o junit_family=xunit2 --durations=15 "${TARGET[@]}" "${PYTEST_ARGS[@]}"
RC=$?
T1="$(cut -d' ' -f1 /proc/uptime)"
echo "[lab guest] pytest exit $RC after $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}')s (guest clock)"
echo "$RC" > "$RES/rc.tmp" && mv "$RES/rc.tmp" "$RES/rc"
sync
exit "$RC"
}

main "$@"
