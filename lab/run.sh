#!/usr/bin/env bash
# Boot ONE kernel-lab guest (stock Debian kernel with the bonding driver, under
# virtme-ng/QEMU, software emulation) and run `pytest -m lab tests/lab` inside it.
#
#   lab/run.sh [extra pytest args...]      e.g. lab/run.sh -k smoke -x
#
# Exit code: pytest's exit code from inside the guest, or
#   90  lab not set up (no kernel/venv/virtme-ng)   -> make lab-setup
#   91  guest did not boot (no "booted" sentinel from the guest)
#   92  guest booted but the bonding module could not be loaded
#   93  guest booted but pytest never reported an exit code (crash, kernel panic, OOM)
#   94  timeout (VFBOND_LAB_TIMEOUT) hit
#
# Env overrides:
#   VFBOND_LAB_KERNEL   kernel image   (default /var/lib/vfbond-lab/current/vmlinuz)
#   VFBOND_LAB_VENV     project venv   (default <repo>/.venv)
#   VFBOND_LAB_RESULTS  host dir the guest may write to
#                       (default <repo>/lab/.cache/results/<time>-<pid>, symlinked as lab/.cache/last)
#   VFBOND_LAB_TIMEOUT  seconds for the whole guest run (default 3600: two topologies, two NetworkManagers)
#   VFBOND_LAB_MEMORY   guest memory (default 2G)     VFBOND_LAB_CPUS  guest vCPUs (default 2)
#   VFBOND_LAB_VERBOSE=1  show the guest kernel console (use it when the guest does not boot)
#   VFBOND_LAB_VNG_OPTS   extra vng options (word-split; --rw is refused)
#   VFBOND_LAB_MARK     pytest -m expression inside the guest (default "lab")
#   VFBOND_LAB_PYIMG=0  don't ship the Python runtime as squashfs disks (see below)
#   VFBOND_LAB_QEMU     QEMU >= 8 with igb (default /var/lib/vfbond-lab/qemu/bin/qemu-system-x86_64)
#
# Hardware: a q35 machine with two emulated Intel 82576 NICs (igb, SR-IOV), each on its own
# PCIe root port and its own QEMU hub with a virtio NIC as its switch port, for the "sriov"
# topology (tests/lab/sriov.py): the guest's real igb PF driver makes real igbvf VFs.  A third hub
# joins a virtio NIC (the guest's paravirtual standby, virtio_net) to its own switch port.  The
# guest pulls a PF's cable through QMP `set_link`, which lab/qmp_relay.py runs for it from
# request files in the results dir (the only host dir the guest can write).
#
# Speed: the guest sees the host's / over 9p, where every stat()/open() costs ~10-20 ms under
# TCG, so importing pytest or pyroute2 took 30-80 s.  The venv and the interpreter's prefix
# (stdlib, minus test/ and its own site-packages) are therefore snapshotted into two
# uncompressed squashfs images per run (~1 s, in /var/tmp, deleted afterwards), attached
# read-only and mounted over the same paths in the guest: imports get 3-6x faster.  The
# project's own source (editable install) stays live over 9p.
#
# The whole script is one function, read completely before it runs: editing this file
# while a run is in progress cannot corrupt that run.
main() {
set -uo pipefail

local ROOT KERNEL QEMU VENV RES TIMEOUT MEMORY CPUS MARK
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KERNEL="${VFBOND_LAB_KERNEL:-/var/lib/vfbond-lab/current/vmlinuz}"
QEMU="${VFBOND_LAB_QEMU:-/var/lib/vfbond-lab/qemu/bin/qemu-system-x86_64}"
VENV="${VFBOND_LAB_VENV:-$ROOT/.venv}"
# Each run gets its own results dir (several runs may share a machine).
RES="${VFBOND_LAB_RESULTS:-$ROOT/lab/.cache/results/$(date +%Y%m%d-%H%M%S)-$$}"
TIMEOUT="${VFBOND_LAB_TIMEOUT:-3600}"
MEMORY="${VFBOND_LAB_MEMORY:-2G}"
CPUS="${VFBOND_LAB_CPUS:-2}"
MARK="${VFBOND_LAB_MARK:-lab}"

# --- preflight ---------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail 90 "lab/run.sh must run as root (the guest runs as the invoking user and needs root)."
[ -r "$KERNEL" ] || fail 90 "kernel image not found: $KERNEL" "run: make lab-setup   (or set VFBOND_LAB_KERNEL)"
[ -x "$VENV/bin/python" ] || fail 90 "project venv not found: $VENV" "run: make lab-setup"
[ -x "$VENV/bin/vng" ] || fail 90 "virtme-ng (vng) not in $VENV" "run: make lab-setup"
"$QEMU" -device igb,help 2>/dev/null | grep -q '^igb options' \
    || fail 90 "no QEMU with the igb (SR-IOV) NIC at $QEMU" "run: make lab-setup   (or set VFBOND_LAB_QEMU to QEMU >= 8)"
"$VENV/bin/python" -c 'import pytest' 2>/dev/null || fail 90 "pytest not installed in $VENV" "run: make lab-setup (pip install -e .[test])"
local EXTRA_VNG=() o
if [ -n "${VFBOND_LAB_VNG_OPTS:-}" ]; then
    read -r -a EXTRA_VNG <<<"$VFBOND_LAB_VNG_OPTS"
    for o in "${EXTRA_VNG[@]}"; do
        case "$o" in --rw|--rw=*) fail 90 "--rw is refused: it would give the guest write access to the host's root filesystem";; esac
    done
fi
[ "${VFBOND_LAB_VERBOSE:-0}" = 1 ] && EXTRA_VNG+=(--verbose)

# --- Python runtime images (read-only disks) ---------------------------------
local PYPREFIX="" IMGDIR="" QOPTS="" img
if [ "${VFBOND_LAB_PYIMG:-1}" = 1 ] && command -v mksquashfs >/dev/null; then
    IMGDIR="$(mktemp -d /var/tmp/vfbond-lab-img.XXXXXX)"
    trap "rm -rf '$IMGDIR'" EXIT
    local SQ=(-noappend -no-progress -quiet -noI -noD -noF -noX -no-xattrs)
    if mksquashfs "$VENV" "$IMGDIR/venv.sqfs" "${SQ[@]}" >/dev/null 2>&1; then
        QOPTS+="-drive file=$IMGDIR/venv.sqfs,if=none,id=vfbvenv,format=raw,readonly=on "
        QOPTS+="-device virtio-blk-pci,drive=vfbvenv,serial=vfbvenv "
    fi
    PYPREFIX="$("$VENV/bin/python" -c 'import sys; print(sys.base_prefix)')"
    local PYVER; PYVER="$("$VENV/bin/python" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')"
    # only a self-contained interpreter prefix (pyenv, /opt/...), never /usr or /usr/local;
    # its site-packages are left out unless the venv uses them
    if [ -d "$PYPREFIX/lib/$PYVER" ] && [ "$PYPREFIX" != /usr ] && [ "$PYPREFIX" != /usr/local ] \
       && ! grep -qi '^include-system-site-packages *= *true' "$VENV/pyvenv.cfg"; then
        if mksquashfs "$PYPREFIX" "$IMGDIR/py.sqfs" "${SQ[@]}" \
               -e "lib/$PYVER/site-packages" "lib/$PYVER/test" include share >/dev/null 2>&1; then
            QOPTS+="-drive file=$IMGDIR/py.sqfs,if=none,id=vfbpy,format=raw,readonly=on "
            QOPTS+="-device virtio-blk-pci,drive=vfbpy,serial=vfbpy "
        fi
    else
        PYPREFIX=""
    fi
    [ -n "$QOPTS" ] && EXTRA_VNG+=("--qemu-opts=$QOPTS")
fi

# The ONLY host path the guest can write to.  Clear our own files only.
mkdir -p "$RES" || fail 90 "cannot create results dir $RES"
RES="$(cd "$RES" && pwd)"
case "$RES" in /|/etc|/etc/*|/usr|/usr/*|"$ROOT"|"$ROOT/src"*|"$ROOT/tests"*|"$ROOT/lab") fail 90 "refusing results dir $RES (must be a dedicated directory)";; esac
rm -f "$RES"/{booted,rc,rc.tmp,fatal,guest.env,boot.sh,junit.xml,console.log,timing,modprobe.err}
rm -rf "$RES/qmp"; mkdir -p "$RES/qmp"
if [ -z "${VFBOND_LAB_RESULTS:-}" ]; then
    ln -sfn "$RES" "$ROOT/lab/.cache/last"
    # prune default results dirs older than a day
    find "$ROOT/lab/.cache/results" -mindepth 1 -maxdepth 1 -type d -mmin +1440 -exec rm -rf -- {} + 2>/dev/null
fi

# Everything the guest needs, as a file (vng does not pass the host environment).
{
    printf 'LAB_ROOT=%q\n' "$ROOT"
    printf 'LAB_VENV=%q\n' "$VENV"
    printf 'LAB_RESULTS=%q\n' "$RES"
    printf 'LAB_MARK=%q\n' "$MARK"
    printf 'LAB_PYPREFIX=%q\n' "$PYPREFIX"
    printf 'PYTEST_ARGS=('; local a; for a in "$@"; do printf '%q ' "$a"; done; printf ')\n'
    # the benchmark's knobs (bench/run.sh)
    local v; for v in "${!VFBOND_BENCH_@}"; do printf 'export %s=%q\n' "$v" "${!v}"; done
} > "$RES/guest.env"

# The guest mounts fresh filesystems over /tmp, /var, /home...: a checkout under one of them is
# hidden there.  The preamble (in the results dir, which vng mounts after those) takes a view of
# the root without those mounts (a bind that is not recursive; the 9p root cannot be mounted twice)
# and binds the checkout back from it, read-only, then the results dir over it once more.
cat > "$RES/boot.sh" <<EOF
if [ ! -e '$ROOT/lab/guest.sh' ]; then
    mkdir -p /run/vfbond-lab/host /run/vfbond-lab/results '$ROOT'
    mount --bind / /run/vfbond-lab/host || echo "cannot bind the root" >&2
    mount --bind '$RES' /run/vfbond-lab/results
    mount --bind -o ro '/run/vfbond-lab/host$ROOT' '$ROOT'
    mount --bind /run/vfbond-lab/results '$RES'
fi
exec bash '$ROOT/lab/guest.sh' '$RES'
EOF

export PATH="$VENV/bin:$PATH"
cd "$ROOT" || fail 90 "cannot cd $ROOT"

# Two igb PFs, each alone on a hub with its switch port (virtio), as two NICs on two switches.
local QMP_DIR HW="-M q35" n
QMP_DIR="$(mktemp -d /run/vfbond-lab-qmp.XXXXXX)"
for n in 0 1; do
    HW+=" -netdev hubport,id=pf${n}net,hubid=${n} -netdev hubport,id=sw${n}net,hubid=${n}"
    HW+=" -device pcie-root-port,id=rp${n},chassis=$((n + 1)),slot=$((n + 1))"
    HW+=" -device igb,id=pf${n},bus=rp${n},netdev=pf${n}net,mac=52:54:00:00:00:1${n}"
    HW+=" -device virtio-net-pci,netdev=sw${n}net,mac=52:54:00:00:01:0${n},romfile="
done
# The paravirtual standby of a live migration (issue #22): a virtio NIC (QEMU id "pv"), alone on hub 2
# with its own switch port, as a second Neutron port through OVS or a Linux bridge would be.
HW+=" -netdev hubport,id=pvnet,hubid=2 -netdev hubport,id=sw2net,hubid=2"
HW+=" -device virtio-net-pci,id=pv,netdev=pvnet,mac=fa:16:3e:00:01:0a,romfile="
HW+=" -device virtio-net-pci,netdev=sw2net,mac=52:54:00:00:01:02,romfile="
HW+=" -qmp unix:$QMP_DIR/qmp.sock,server=on,wait=off"
EXTRA_VNG+=("--qemu-opts=$HW")

local VNG=(vng --run "$KERNEL" --disable-kvm --disable-microvm --force-initramfs --qemu "$QEMU"
     --memory "$MEMORY" --cpus "$CPUS" --name vfbond-lab
     --rwdir "$RES"
     "${EXTRA_VNG[@]}"
     --exec "bash $RES/boot.sh")

banner "kernel lab: booting $(basename "$(dirname "$(readlink -f "$KERNEL")")") ($(readlink -f "$KERNEL"))" \
       "guest: ${CPUS} vCPU, ${MEMORY}, TCG (no KVM), root fs = host / read-only + tmpfs overlays" \
       "results (only host dir the guest can write): $RES" "timeout: ${TIMEOUT}s"

local T0 T_END T_BOOT BOOT_S IN_S TOTAL_S VNG_RC RC POLLER
T0="$(now)"
# Host-side clock for the boot time: the guest touches $RES/booted first thing.
(
    while [ ! -e "$RES/booted" ]; do sleep 0.2; done
    echo "boot $(now)" >> "$RES/timing"
) &
POLLER=$!
"$VENV/bin/python" "$ROOT/lab/qmp_relay.py" "$QMP_DIR/qmp.sock" "$RES/qmp" >> "$RES/qmp-relay.log" 2>&1 &
local RELAY=$!
trap "kill $POLLER $RELAY 2>/dev/null; rm -rf '$QMP_DIR'; [ -n '$IMGDIR' ] && rm -rf '$IMGDIR'" EXIT

timeout -k 30 "$TIMEOUT" "${VNG[@]}" </dev/null 2>&1 | tee "$RES/console.log"
VNG_RC=${PIPESTATUS[0]}
T_END="$(now)"
kill "$POLLER" "$RELAY" 2>/dev/null; wait "$POLLER" "$RELAY" 2>/dev/null

T_BOOT="$(awk '/^boot / {print $2; exit}' "$RES/timing" 2>/dev/null)"
if [ -n "$T_BOOT" ]; then
    BOOT_S="$(secs "$T0" "$T_BOOT")"; IN_S="$(secs "$T_BOOT" "$T_END")"
else
    BOOT_S="n/a"; IN_S="n/a"
fi
TOTAL_S="$(secs "$T0" "$T_END")"
echo
echo "[lab] boot: ${BOOT_S}s   in-guest (pytest incl. imports + shutdown): ${IN_S}s   total: ${TOTAL_S}s   vng exit: $VNG_RC"
printf 'boot_s=%s\nguest_s=%s\ntotal_s=%s\nvng_rc=%s\n' "$BOOT_S" "$IN_S" "$TOTAL_S" "$VNG_RC" >> "$RES/timing"

if [ "$VNG_RC" = 124 ] || [ "$VNG_RC" = 137 ]; then
    fail 94 "TIMEOUT: the guest run exceeded ${TIMEOUT}s and was killed." \
            "$( [ -e "$RES/booted" ] && echo 'The guest had booted; pytest did not finish.' || echo 'The guest never finished booting.')" \
            "log: $RES/console.log"
fi
if [ ! -e "$RES/booted" ]; then
    fail 91 "GUEST DID NOT BOOT: no sentinel from the guest (vng exit $VNG_RC)." \
            "kernel: $KERNEL (modules must be in /lib/modules/<version>: make lab-setup)" \
            "re-run with VFBOND_LAB_VERBOSE=1 to see the guest kernel console."
fi
if [ -s "$RES/fatal" ]; then
    fail 92 "GUEST SETUP FAILED: $(cat "$RES/fatal")"
fi
if [ ! -s "$RES/rc" ]; then
    fail 93 "PYTEST NEVER REPORTED: the guest booted but wrote no exit code (vng exit $VNG_RC)." \
            "The guest crashed, panicked, ran out of memory or pytest was killed." \
            "log: $RES/console.log; re-run with VFBOND_LAB_VERBOSE=1 for the kernel console."
fi
RC="$(tr -dc '0-9' < "$RES/rc")"
[ -n "$RC" ] || fail 93 "unreadable exit code file $RES/rc"
if [ "$RC" = 0 ]; then
    echo "[lab] kernel-lab pytest PASSED (exit 0); results: $RES"
else
    banner "kernel-lab pytest exited $RC (inside the guest)" "log: $RES/console.log   junit: $RES/junit.xml" >&2
fi
exit "$RC"
}

banner() { printf '\n########################################################################\n'; printf '### %s\n' "$@"; printf '########################################################################\n'; }
fail() { local code="$1"; shift; banner "KERNEL LAB FAILED (exit $code)" "$@" >&2; exit "$code"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

main "$@"
