#!/usr/bin/env bash
# Boot ONE kernel-lab guest with a real systemd as PID 1 and run tests/lab/systemd inside it:
# the shipped vfbondd.service (Type=notify, watchdog, hardening) and the shipped cloud-init
# user-data, run by a real cloud-init against a NoCloud seed.
#
#   lab/run-systemd.sh [extra pytest args...]
#
# How: `vng --systemd` ignores --exec, so the guest's work is a transient unit from
# systemd-run-generator (systemd.run=tests/lab/systemd/guest.sh, poweroff when it ends). The
# guest's systemd detects "docker" (the host root has /.dockerenv) and then reads PID 1's
# command line instead of /proc/cmdline; SYSTEMD_PROC_CMDLINE, passed by the kernel as an
# environment variable of PID 1, gives it and the generators the command line explicitly.
#
# Exit code: pytest's exit code from inside the guest, or
#   90  not set up (kernel, venv, virtme-ng, qemu, cloud-init or python3.11 missing)
#   91  the guest did not boot (no "booted" file from the guest)
#   92  the guest booted but its setup failed (see the message)
#   93  the guest booted but never reported an exit code
#   94  timeout (VFBOND_LAB_TIMEOUT)
#   95  building the wheelhouse failed
#
# Env overrides: VFBOND_LAB_KERNEL, VFBOND_LAB_VENV, VFBOND_LAB_TIMEOUT (default 2100: two pip installs from scratch under emulation, ~4.5 min each),
#   VFBOND_LAB_MEMORY (2G), VFBOND_LAB_CPUS (2), VFBOND_LAB_VERBOSE=1,
#   VFBOND_LAB_SYSTEMD_RESULTS (default <repo>/lab/.cache/systemd-results)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KERNEL="${VFBOND_LAB_KERNEL:-/var/lib/vfbond-lab/current/vmlinuz}"
VENV="${VFBOND_LAB_VENV:-$ROOT/.venv}"
RES="${VFBOND_LAB_SYSTEMD_RESULTS:-$ROOT/lab/.cache/systemd-results}"
WHEELHOUSE="$ROOT/lab/.cache/wheelhouse"
TIMEOUT="${VFBOND_LAB_TIMEOUT:-2100}"
MEMORY="${VFBOND_LAB_MEMORY:-2G}"
CPUS="${VFBOND_LAB_CPUS:-2}"
GUEST="$ROOT/tests/lab/systemd/guest.sh"

banner() { printf '\n########################################################################\n'; printf '### %s\n' "$@"; printf '########################################################################\n'; }
fail() { local code="$1"; shift; banner "SYSTEMD LAB FAILED (exit $code)" "$@" >&2; exit "$code"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# --- preflight ---------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail 90 "lab/run-systemd.sh must run as root."
[ -r "$KERNEL" ] || fail 90 "kernel image not found: $KERNEL" "run: make lab-setup"
[ -x "$VENV/bin/vng" ] || fail 90 "virtme-ng (vng) not in $VENV" "run: make lab-setup"
command -v qemu-system-x86_64 >/dev/null || fail 90 "qemu-system-x86_64 not installed" "run: make lab-setup"
"$VENV/bin/python" -c 'import pytest' 2>/dev/null || fail 90 "pytest not installed in $VENV" "run: make lab-setup"
[ -x /lib/systemd/systemd ] || fail 90 "systemd is not installed on the host (the guest boots the host's root fs)" \
    "fix: apt-get install systemd"
command -v cloud-init >/dev/null || fail 90 "cloud-init is not installed on the host (the guest runs the host's copy)" \
    "fix: apt-get install --no-install-recommends cloud-init   (never enabled on the host: the guest runs it by hand)"
/usr/bin/python3.11 -c 'import ensurepip, venv' 2>/dev/null \
    || fail 90 "/usr/bin/python3.11 with venv/ensurepip is needed (the user-data runs python3.11 -m venv)" \
               "fix: apt-get install python3.11-venv"
case "$ROOT$RES" in *" "*) fail 90 "paths with spaces cannot go on the kernel command line: $ROOT, $RES";; esac

# --- the wheelhouse the user-data installs from (an image would have it baked in) -----------
# Built and checked by the script operators use (README "Install on the VM"), for the VMs we target:
# glibc 2.28, CPython 3.11. The vfbond wheel comes from the working tree.
rm -rf "$WHEELHOUSE"
"$VENV/bin/python" "$ROOT/scripts/wheelhouse.py" build --python 3.11 "$WHEELHOUSE" >/dev/null \
    || fail 95 "scripts/wheelhouse.py build --python 3.11 $WHEELHOUSE failed (it needs the package index)"

# The ONLY host path the guest can write to. Clear our own files only.
mkdir -p "$RES" || fail 90 "cannot create results dir $RES"
RES="$(cd "$RES" && pwd)"
case "$RES" in /|/etc|/etc/*|"$ROOT"|"$ROOT/src"*|"$ROOT/tests"*|"$ROOT/lab") fail 90 "refusing results dir $RES";; esac
rm -f "$RES"/{booted,rc,fatal,guest.env,guest.log,junit.xml,console.log,journal.txt,timing}
{
    printf 'LAB_ROOT=%q\n' "$ROOT"
    printf 'LAB_VENV=%q\n' "$VENV"
    printf 'LAB_WHEELHOUSE=%q\n' "$WHEELHOUSE"
    printf 'PYTEST_ARGS=('; for a in "$@"; do printf '%q ' "$a"; done; printf ')\n'
} > "$RES/guest.env"

EXTRA_VNG=()
[ "${VFBOND_LAB_VERBOSE:-0}" = 1 ] && EXTRA_VNG+=(--verbose)
# systemd-tmpfiles-setup is masked: at boot it walks (to clean) the host's /tmp over 9p, which took
# from 15 s to over a minute depending on the host; the guest mounts its own /tmp.
PROC_CMDLINE="systemd.run=$GUEST systemd.run_success_action=poweroff systemd.run_failure_action=poweroff"
PROC_CMDLINE+=" systemd.mask=systemd-tmpfiles-setup.service"
# No NetworkManager in this boot: the unit must start without it (Wants=, not Requires=), and the
# mask costs no daemon-reload (one took over 60 s on a loaded host).
PROC_CMDLINE+=" systemd.mask=NetworkManager.service"
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
# The inner single quotes keep SYSTEMD_PROC_CMDLINE one kernel argument (vng double-quotes it).
VNG=(vng --run "$KERNEL" --disable-kvm --force-initramfs --systemd
     --memory "$MEMORY" --cpus "$CPUS" --name vfbond-systemd
     --rwdir "$RES"
     --append "'SYSTEMD_PROC_CMDLINE=$PROC_CMDLINE' vfbond_lab_results=$RES"
     "${EXTRA_VNG[@]}")

banner "systemd lab: booting $(basename "$(readlink -f "$KERNEL")") with systemd as PID 1" \
       "guest: ${CPUS} vCPU, ${MEMORY}, TCG; root = host / read-only, tmpfs overlays made by the guest" \
       "results: $RES   timeout: ${TIMEOUT}s"
T0="$(now)"
(
    while [ ! -e "$RES/booted" ]; do sleep 0.5; done
    echo "boot $(now)" >> "$RES/timing"
) &
POLLER=$!
trap 'kill "$POLLER" 2>/dev/null' EXIT
# The serial console carries systemd's boot status and the guest script's progress lines.
timeout -k 30 "$TIMEOUT" "${VNG[@]}" </dev/null 2>&1 | tee "$RES/console.log"
VNG_RC=${PIPESTATUS[0]}
T_END="$(now)"
kill "$POLLER" 2>/dev/null; wait "$POLLER" 2>/dev/null

T_BOOT="$(awk '/^boot / {print $2; exit}' "$RES/timing" 2>/dev/null)"
if [ -n "$T_BOOT" ]; then BOOT_S="$(secs "$T0" "$T_BOOT")"; IN_S="$(secs "$T_BOOT" "$T_END")"; else BOOT_S="n/a"; IN_S="n/a"; fi
echo
echo "[systemd-lab] boot to guest script: ${BOOT_S}s   guest script + poweroff: ${IN_S}s   total: $(secs "$T0" "$T_END")s   vng exit: $VNG_RC"

if [ "$VNG_RC" = 124 ] || [ "$VNG_RC" = 137 ]; then
    fail 94 "TIMEOUT after ${TIMEOUT}s: $( [ -e "$RES/booted" ] && echo 'the guest booted; the tests did not finish' || echo 'the guest never reached the test unit')" \
            "console: $RES/console.log   guest log: $RES/guest.log"
fi
[ -e "$RES/booted" ] || fail 91 "GUEST DID NOT BOOT: systemd never ran the test unit (vng exit $VNG_RC)" \
    "console: $RES/console.log; re-run with VFBOND_LAB_VERBOSE=1"
[ -s "$RES/fatal" ] && fail 92 "GUEST SETUP FAILED: $(cat "$RES/fatal")" "guest log: $RES/guest.log"
[ -s "$RES/rc" ] || fail 93 "THE GUEST NEVER REPORTED: booted, but wrote no exit code (crash, panic, OOM, killed)" \
    "console: $RES/console.log   guest log: $RES/guest.log"
RC="$(tr -dc '0-9' < "$RES/rc")"
[ -n "$RC" ] || fail 93 "unreadable exit code file $RES/rc"
if [ "$RC" = 0 ]; then
    echo "[systemd-lab] PASSED (pytest exit 0 inside the guest; journal: $RES/journal.txt)"
else
    banner "systemd-lab pytest exited $RC inside the guest" \
           "guest log: $RES/guest.log   journal: $RES/journal.txt   junit: $RES/junit.xml" >&2
fi
exit "$RC"
