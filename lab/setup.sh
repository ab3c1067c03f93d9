#!/usr/bin/env bash
# Kernel-lab setup for vfbond: installs everything needed to boot a stock Debian
# kernel (which has the bonding driver) under virtme-ng/QEMU and run
# tests/lab inside it.  Idempotent: safe to re-run.
#
# Env overrides:
#   VFBOND_LAB_DIR      where the lab kernel is kept   (default /var/lib/vfbond-lab)
#   VFBOND_LAB_KPKG     kernel package to use          (default: what linux-image-amd64 depends on)
#   VFBOND_LAB_NO_APT=1 skip apt-get update/install    (packages must already be there)
#   VFBOND_LAB_NO_PROJECT=1 don't `pip install -e .[test]` the project
# One function, parsed in full before it runs (safe against edits during a run).
main() {
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB_DIR="${VFBOND_LAB_DIR:-/var/lib/vfbond-lab}"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
APT_PKGS=(qemu-system-x86 kmod busybox-static cpio network-manager nftables
          iproute2 dbus tcpdump iputils-ping procps util-linux udev squashfs-tools)

step() { printf '\n==> [lab-setup] %s\n' "$*"; }
die()  { printf '\n!!! [lab-setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, /lib/modules, depmod)"

# Don't fight another apt/dpkg run (e.g. one started in the background).
wait_for_apt() {
    local i=0
    while pgrep -x apt-get >/dev/null || pgrep -x apt >/dev/null || pgrep -x dpkg >/dev/null \
          || fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; do
        [ $i -eq 0 ] && echo "    waiting for another apt/dpkg process to finish..."
        i=$((i + 1)); [ $i -gt 600 ] && die "apt/dpkg still busy after 10 minutes"
        sleep 1
    done
}

# --- 1. Debian packages -------------------------------------------------------
# policy-rc.d 101 = "don't start services from maintainer scripts": the host must
# never get a running NetworkManager (it would try to manage eth0).
POLICY=/usr/sbin/policy-rc.d
POLICY_OURS=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$POLICY"; chmod +x "$POLICY"; POLICY_OURS=1
fi
cleanup_policy() { [ "$POLICY_OURS" = 1 ] && rm -f "$POLICY"; return 0; }
trap cleanup_policy EXIT

missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${VFBOND_LAB_NO_APT:-0}" = 1 ]; then
    step "apt: skipped (VFBOND_LAB_NO_APT=1); missing: ${missing[*]:-none}"
    [ ${#missing[@]} -eq 0 ] || die "missing packages: ${missing[*]}"
else
    wait_for_apt
    step "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    if [ ${#missing[@]} -gt 0 ]; then
        step "apt-get install ${missing[*]}"
        wait_for_apt
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        step "apt packages already installed: ${APT_PKGS[*]}"
    fi
fi

# --- 2. keep NetworkManager off the host --------------------------------------
step "making sure NetworkManager does not run on the host (guest-only)"
if [ -d /run/systemd/system ]; then
    echo "    systemd is running: stopping, disabling and masking NetworkManager.service"
    systemctl stop NetworkManager.service NetworkManager-wait-online.service 2>/dev/null || true
    systemctl disable NetworkManager.service NetworkManager-wait-online.service 2>/dev/null || true
    systemctl mask NetworkManager.service 2>/dev/null || true
else
    echo "    no systemd on this host (PID 1 is $(ps -p 1 -o comm=)); nothing to disable"
    if [ -x /etc/init.d/network-manager ] && command -v update-rc.d >/dev/null; then
        update-rc.d network-manager disable >/dev/null 2>&1 || true
    fi
fi
if pgrep -x NetworkManager >/dev/null; then
    # PID 1 of the guest is never visible here, so any NetworkManager seen is the host's.
    echo "    WARNING: a NetworkManager process is running on the host (pid $(pgrep -x NetworkManager | tr '\n' ' '))." >&2
    echo "    WARNING: it was not started by this script; stop it yourself if it manages host interfaces." >&2
fi

# --- 3. the lab kernel ---------------------------------------------------------
KPKG="${VFBOND_LAB_KPKG:-}"
if [ -z "$KPKG" ]; then
    KPKG="$(apt-cache depends linux-image-amd64 2>/dev/null \
            | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    [ -n "$KPKG" ] || die "cannot tell which kernel package linux-image-amd64 depends on (apt-get update?)"
fi
KVER="${KPKG#linux-image-}"
step "lab kernel: $KPKG (version $KVER)"
mkdir -p "$LAB_DIR/$KVER"
if [ -s "$LAB_DIR/$KVER/vmlinuz" ] && [ -e "/lib/modules/$KVER/kernel/drivers/net/bonding/bonding.ko" ] \
   && [ -s "/lib/modules/$KVER/modules.dep.bin" ]; then
    echo "    already installed: $LAB_DIR/$KVER/vmlinuz and /lib/modules/$KVER"
else
    tmp="$(mktemp -d /tmp/vfbond-lab-kpkg.XXXXXX)"
    chmod 755 "$tmp"; chown _apt "$tmp" 2>/dev/null || true  # else apt warns "unsandboxed"
    ( cd "$tmp" && apt-get download -q "$KPKG" ) || die "apt-get download $KPKG failed"
    echo "    extracting $(ls "$tmp"/*.deb)"
    dpkg-deb -x "$tmp"/*.deb "$tmp/root"
    [ -d "$tmp/root/lib/modules/$KVER" ] || die "no lib/modules/$KVER in $KPKG"
    [ -f "$tmp/root/boot/vmlinuz-$KVER" ] || die "no boot/vmlinuz-$KVER in $KPKG"
    mkdir -p /lib/modules
    rm -rf "/lib/modules/$KVER.new"
    cp -a "$tmp/root/lib/modules/$KVER" "/lib/modules/$KVER.new"
    rm -rf "/lib/modules/$KVER"; mv "/lib/modules/$KVER.new" "/lib/modules/$KVER"
    echo "    depmod $KVER"
    depmod -a "$KVER"
    cp "$tmp/root/boot/vmlinuz-$KVER" "$LAB_DIR/$KVER/vmlinuz.new"
    [ -f "$tmp/root/boot/config-$KVER" ] && cp "$tmp/root/boot/config-$KVER" "$LAB_DIR/$KVER/config"
    mv "$LAB_DIR/$KVER/vmlinuz.new" "$LAB_DIR/$KVER/vmlinuz"
    rm -rf "$tmp"
fi
# The pointer run.sh reads.
ln -sfn "$KVER" "$LAB_DIR/current"
echo "$KVER" > "$LAB_DIR/current-version"
echo "    kernel: $LAB_DIR/current/vmlinuz -> $(readlink -f "$LAB_DIR/current/vmlinuz")"
[ -e "/lib/modules/$KVER/kernel/drivers/net/bonding/bonding.ko" ] || die "bonding.ko missing from /lib/modules/$KVER"

# --- 3b. QEMU >= 8 for the SR-IOV topology --------------------------------------
# Debian 12's QEMU (7.2) has no igb model.  bookworm-backports' QEMU is unpacked beside it, with
# a private apt list (the system's sources and packages are left alone), from the same mirror the
# machine's own sources name.  $LAB_DIR/qemu/bin/qemu-system-x86_64 is the wrapper run.sh uses.
QEMU_DIR="$LAB_DIR/qemu"
if "$QEMU_DIR/bin/qemu-system-x86_64" -device igb,help 2>/dev/null | grep -q '^igb options'; then
    echo "    QEMU with igb present: $("$QEMU_DIR/bin/qemu-system-x86_64" --version | head -1)"
else
    step "QEMU >= 8 (igb, SR-IOV) from bookworm-backports into $QEMU_DIR"
    local apt_dir="$LAB_DIR/apt-backports" mirror deb
    mirror="$(debian_mirror)" || die "no bookworm mirror in /etc/apt/sources.list{,.d}: cannot derive the backports URI"
    rm -rf "$apt_dir" "$QEMU_DIR.new"
    mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$QEMU_DIR.new"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" > "$apt_dir/parts/backports.sources"
    local APT_O=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/parts"
                 -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
    apt-get "${APT_O[@]}" update -q || die "apt-get update of bookworm-backports failed"
    chown _apt "$apt_dir/debs" 2>/dev/null || true
    # The backports QEMU's shared libraries are bookworm's, already there with the system QEMU.
    for deb in qemu-system-x86 qemu-system-common qemu-system-data seabios; do
        ( cd "$apt_dir/debs" && apt-get "${APT_O[@]}" download -q "$deb/bookworm-backports" ) \
            || die "apt-get download $deb/bookworm-backports failed"
    done
    for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$QEMU_DIR.new/root"; done
    mkdir -p "$QEMU_DIR.new/bin"
    local R="$QEMU_DIR/root/usr"
    cat > "$QEMU_DIR.new/bin/qemu-system-x86_64" <<EOF
#!/bin/sh
# bookworm-backports QEMU, unpacked by lab/setup.sh (firmware and modules from its own tree)
export QEMU_MODULE_DIR=$R/lib/x86_64-linux-gnu/qemu
exec $R/bin/qemu-system-x86_64 -L $R/share/qemu -L $R/share/seabios -L /usr/share/qemu "\$@"
EOF
    chmod +x "$QEMU_DIR.new/bin/qemu-system-x86_64"
    rm -rf "$QEMU_DIR"; mv "$QEMU_DIR.new" "$QEMU_DIR"
    "$QEMU_DIR/bin/qemu-system-x86_64" -device igb,help 2>/dev/null | grep -q '^igb options' \
        || die "the unpacked QEMU does not run or has no igb device: $("$QEMU_DIR/bin/qemu-system-x86_64" --version 2>&1 | head -3)"
    echo "    $("$QEMU_DIR/bin/qemu-system-x86_64" --version | head -1)"
fi

# --- 3c. NetworkManager 1.52 (RHEL 9-class) beside the system's 1.42 ------------
# A Debian trixie root (minbase + NetworkManager), built once and reused: the lab guest runs its
# NetworkManager in a chroot on the guest's own system bus (tests/lab/nm_chroot.py).  Built in
# $NM_ROOT.new and renamed, so an interrupted build never looks finished.
NM_ROOT="$LAB_DIR/nm-trixie"
if [ -x "$NM_ROOT/usr/sbin/NetworkManager" ]; then
    echo "    NetworkManager root present: $NM_ROOT ($(chroot "$NM_ROOT" /usr/sbin/NetworkManager --version))"
else
    step "NetworkManager (Debian trixie) root into $NM_ROOT"
    command -v debootstrap >/dev/null || {
        [ "${VFBOND_LAB_NO_APT:-0}" = 1 ] && die "debootstrap missing (VFBOND_LAB_NO_APT=1): apt-get install debootstrap"
        wait_for_apt; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
    }
    local nm_mirror
    nm_mirror="$(debian_mirror)" || die "no Debian mirror in /etc/apt/sources.list{,.d}: cannot bootstrap trixie"
    rm -rf "$NM_ROOT.new"
    debootstrap --variant=minbase --include=network-manager,dbus,iproute2 trixie "$NM_ROOT.new" "$nm_mirror" \
        >"$LAB_DIR/nm-trixie.debootstrap.log" 2>&1 \
        || die "debootstrap trixie failed (log: $LAB_DIR/nm-trixie.debootstrap.log)"
    # ~1 s each to load under TCG, never used by the lab (as trim_nm_plugins does for the guest's own NM)
    rm -f "$NM_ROOT.new"/usr/lib/*/NetworkManager/*/libnm-device-plugin-{adsl,bluetooth,wifi,wwan,team,ovs}.so
    rm -rf "$NM_ROOT.new"/var/cache/apt/archives/*.deb
    rm -rf "$NM_ROOT"; mv "$NM_ROOT.new" "$NM_ROOT"
    echo "    $(chroot "$NM_ROOT" /usr/sbin/NetworkManager --version) in $NM_ROOT ($(du -sh "$NM_ROOT" | cut -f1))"
fi

# --- 4. venv + virtme-ng -------------------------------------------------------
step "python venv $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || die "python3 -m venv failed"
fi
"$VENV/bin/python" -m pip --version >/dev/null || die "pip missing in $VENV"
if "$VENV/bin/vng" --version >/dev/null 2>&1; then
    echo "    virtme-ng present: $("$VENV/bin/vng" --version 2>&1)"
else
    step "pip install virtme-ng"
    "$VENV/bin/python" -m pip install -q virtme-ng || die "pip install virtme-ng failed"
fi
for m in pytest; do
    "$VENV/bin/python" -c "import $m" 2>/dev/null && continue
    if [ -f "$ROOT/pyproject.toml" ] && [ "${VFBOND_LAB_NO_PROJECT:-0}" != 1 ]; then break; fi
    step "pip install $m"; "$VENV/bin/python" -m pip install -q "$m"
done
if [ -f "$ROOT/pyproject.toml" ] && [ "${VFBOND_LAB_NO_PROJECT:-0}" != 1 ]; then
    step "pip install -e .[test] (project into $VENV)"
    "$VENV/bin/python" -m pip install -q -e "$ROOT[test]" || die "pip install -e .[test] failed"
fi

# --- 5. sanity ---------------------------------------------------------------
step "sanity checks"
for b in qemu-system-x86_64 busybox cpio modprobe NetworkManager nmcli nft ip dbus-daemon ping; do
    command -v "$b" >/dev/null || die "$b not found in PATH after install"
done
echo "    ok: qemu $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), NetworkManager $(NetworkManager --version), $("$VENV/bin/vng" --version 2>&1)"
step "done. Run the lab tests with: make test-lab   (or lab/run.sh [pytest args])"
}

# The first mirror URI that serves bookworm, from deb822 .sources or one-line sources.list files
# (it serves bookworm-backports and trixie too).
debian_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
             { uri = ""; ok = 0
               for (i = 1; i <= NF; i++) {
                 if ($i ~ /^URIs:/)   { split($i, a, /[ \t]+/); uri = a[2] }
                 if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) ok = 1 }
               if (ok && uri != "") { print uri; exit } }' "$f"
    done | head -1 | grep . && return 0
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $0 ~ /[ \t]bookworm[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        | head -1 | grep .
}

main "$@"
