#!/usr/bin/env bash
# Install everything the tests and the demo need on a fresh Debian 12 machine (root). Idempotent.
#   - Debian packages the host tests use (real rsyslog, snmptrapd, smilint, cloud-init schema,
#     systemd-analyze); nothing is started or enabled on the host
#   - the kernel lab (lab/setup.sh): qemu, a stock Debian kernel with bonding, virtme-ng,
#     NetworkManager for the guest only, and the project in .venv
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# prometheus: for its promtool only (the metrics file is checked with `promtool check metrics`); the
# server it also installs is disabled below and never started
HOST_PKGS=(rsyslog rsyslog-openssl snmpd snmptrapd snmp smitools cloud-init systemd python3.11-venv prometheus)

step() { printf '\n==> [setup] %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "setup: run as root (apt-get, kernel modules)" >&2; exit 1; }

missing=()
for p in "${HOST_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    # policy-rc.d 101: maintainer scripts must not start rsyslog, snmptrapd or cloud-init here;
    # the tests start their own instances on loopback.
    POLICY=/usr/sbin/policy-rc.d
    ours=0
    if [ ! -e "$POLICY" ]; then printf '#!/bin/sh\nexit 101\n' > "$POLICY"; chmod +x "$POLICY"; ours=1; fi
    trap '[ "$ours" = 1 ] && rm -f "$POLICY"' EXIT
    step "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    [[ " ${missing[*]} " == *" prometheus "* ]] && systemctl disable prometheus.service >/dev/null 2>&1 || true
else
    step "host test packages present: ${HOST_PKGS[*]}"
fi

bash "$ROOT/lab/setup.sh"
