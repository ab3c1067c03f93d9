"""Kernel-lab fixtures: real bonding driver and real NetworkManager, INSIDE the lab guest only.

The lab guest is booted by ``lab/run.sh`` (``make test-lab``): a stock Debian kernel under
virtme-ng/QEMU over the host's root filesystem, mounted read-only with tmpfs overlays on /etc,
/usr, /var, /tmp, /home...  Inside it we are root in a throwaway kernel, so the fixtures here
load modules, create veth pairs, bonds and namespaces, and start NetworkManager freely.

On the host these tests are never run: the host run deselects them with ``-m "not lab"``, and
as a second guard every ``lab``-marked test is skipped here when not inside the guest
(detected by ``VFBOND_LAB_GUEST=1`` from lab/guest.sh plus virtme on the kernel command line).

Fixtures
  sh            run a command (str or list), fail with command, exit code, stdout and stderr
  wait_until    poll a predicate until truthy or fail with the last value seen
  bonding       (session) ``modprobe bonding max_bonds=0``; fails, never skips
  topology      two "VFs" vf0/vf1 (veth, Neutron-like MACs) whose peers sw0/sw1 sit in a
                bridge br0 in namespace ``sw`` carrying the gateway 192.0.2.1/24, 2001:db8::1/64,
                and a paravirtual standby pv0 (a third veth, peer swpv) on the same bridge;
                carrier cut, blackhole, spoof-check, unplug/replug helpers; torn down per test
  networkmanager  a private NetworkManager (own config, keyfile dir and state in a temp dir,
                only vf*/bond* managed) on the system bus; restart()/kill(); per test; the
                guest's own 1.42, or 1.52 from a trixie root (nm_chroot.py) by indirect
                parametrization with NM_VERSIONS
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# --------------------------------------------------------------------------------------------
# guest detection / marker
# --------------------------------------------------------------------------------------------

LAB_MARKER_HELP = (
    "lab: needs the kernel lab guest (real bonding, real NetworkManager); run by lab/run.sh"
)


def in_lab_guest() -> bool:
    if os.environ.get("VFBOND_LAB_GUEST") != "1":
        return False
    try:
        cmdline = Path("/proc/cmdline").read_text()
    except OSError:
        return False
    return "virtme" in cmdline


IN_GUEST = in_lab_guest()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", LAB_MARKER_HELP)


LAB_FIXTURES = frozenset({"bonding", "topology", "networkmanager", "lab_udev"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IN_GUEST:
        return
    skip = pytest.mark.skip(
        reason="kernel-lab test: runs only inside the lab guest (make test-lab / lab/run.sh)"
    )
    for item in items:
        uses_lab = LAB_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("lab") is not None or uses_lab:
            item.add_marker(skip)


def _require_guest() -> None:
    if not IN_GUEST:
        pytest.fail(
            "lab fixtures refuse to run outside the lab guest (they load modules and create "
            "bonds/namespaces): use `make test-lab`",
            pytrace=False,
        )


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------


class CommandFailed(AssertionError):
    def __init__(self, argv: Sequence[str], rc: int | None, out: str, err: str, note: str = ""):
        self.argv, self.rc, self.stdout, self.stderr = list(argv), rc, out, err
        status = f"exit {rc}" if rc is not None else note or "did not finish"
        msg = f"command failed ({status}): {shlex.join(self.argv)}"
        if out.strip():
            msg += f"\n--- stdout ---\n{out.rstrip()}"
        if err.strip():
            msg += f"\n--- stderr ---\n{err.rstrip()}"
        super().__init__(msg)


def run(
    cmd: str | Sequence[str],
    *,
    ns: str | None = None,
    check: bool = True,
    timeout: float = 60,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (a string is split with shlex, no shell) optionally in netns ``ns``.

    Returns the CompletedProcess (text).  With check=True a non-zero exit or timeout raises
    CommandFailed, whose message carries the command, exit code, stdout and stderr.
    """
    argv = shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
    if ns:
        argv = ["ip", "netns", "exec", ns, *argv]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, input=input,
            env={**os.environ, **env} if env else None,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        raise CommandFailed(argv, None, out, err, f"timed out after {timeout}s") from None
    except FileNotFoundError:
        raise CommandFailed(argv, None, "", f"{argv[0]}: not found", "not found") from None
    if check and done.returncode != 0:
        raise CommandFailed(argv, done.returncode, done.stdout, done.stderr)
    return done


def wait_until(
    pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1, what: str | Callable[[], str] = "condition"
) -> Any:
    """Poll ``pred`` until it returns a truthy value (returned); fail with the last value. ``what`` may
    be a callable: it is called at the failure, to say how things stood then."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = pred()
        except Exception as exc:  # noqa: BLE001 - report the last error on timeout
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what() if callable(what) else what}; "
                        f"last value: {last!r}")
        time.sleep(interval)


@pytest.fixture
def sh() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    return wait_until


# Every process costs ~0.1-0.5 s under TCG: batch ip commands, read /sys and /proc directly.


def ip_batch(cmds: Sequence[str], ns: str | None = None, check: bool = True) -> None:
    """Run many `ip` commands in one process (``ip [-n ns] [-force] -batch -``)."""
    if not cmds:
        return
    argv = ["ip"] + (["-n", ns] if ns else []) + ([] if check else ["-force"]) + ["-batch", "-"]
    run(argv, input="\n".join(cmds) + "\n", check=check)


def _link_exists(name: str) -> bool:
    """Does link ``name`` exist in the guest's root namespace."""
    return os.path.lexists(f"/sys/class/net/{name}")


def _bonds() -> list[str]:
    try:
        return Path("/sys/class/net/bonding_masters").read_text().split()
    except OSError:
        return []


# --------------------------------------------------------------------------------------------
# bonding
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bonding() -> Path:
    """The bonding driver, loaded with max_bonds=0 (no implicit bond0). Fails, never skips."""
    _require_guest()
    run(["modprobe", "bonding", "max_bonds=0"])
    if not Path("/sys/module/bonding").is_dir():
        pytest.fail("bonding module not loaded after modprobe", pytrace=False)
    return Path("/sys/class/net/bonding_masters")


def purge_bonds() -> None:
    """Delete every bond in the guest's root namespace."""
    ip_batch([f"link del {b}" for b in _bonds()], check=False)


# --------------------------------------------------------------------------------------------
# topology
# --------------------------------------------------------------------------------------------

SW_NS = "sw"
BRIDGE = "br0"
VF_MACS = ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
# The paravirtual standby a live migration keeps (issue #22): never vf*/bond*, so the lab's
# NetworkManager leaves it alone unless a test lists it in `managed`.
STANDBY, STANDBY_MAC, STANDBY_SW = "pv0", "fa:16:3e:00:00:0a", "swpv"


@dataclass
class Topology:
    """Two VFs (vf0, vf1 in the guest's root namespace) cabled to a switch (namespace ``sw``).

    vfN are created administratively DOWN, like a freshly probed VF; enslaving (kernel or NM)
    brings them up.  The standby (`standby`, `standby_mac`) is a third member on the same switch
    (port `standby_sw`), down and without addresses too.  Only send traffic to the gateway
    addresses below.
    """

    kind = "veth"
    ns: str = SW_NS
    bridge: str = BRIDGE
    vfs: list[str] = field(default_factory=lambda: ["vf0", "vf1"])
    macs: tuple[str, ...] = VF_MACS
    sws: tuple[str, ...] = ("sw0", "sw1")
    standby: str = STANDBY
    standby_mac: str = STANDBY_MAC
    standby_sw: str = STANDBY_SW
    gw4: str = "192.0.2.1"
    gw4_prefix: int = 24
    gw6: str = "2001:db8::1"
    gw6_prefix: int = 64
    # addresses a test may put on bond0 (same subnets, not used by the switch)
    host4: str = "192.0.2.10"
    host6: str = "2001:db8::10"
    spoofcheck_on: bool = False
    # how long a VF's carrier may take to come back after restore_carrier (a veth: at once)
    carrier_back_s: float = 0.0
    blackholed: set[int] = field(default_factory=set)
    unplugged: set[int] = field(default_factory=set)

    # -- helpers ------------------------------------------------------------------------------
    def vf(self, i: int) -> str:
        return self.vfs[i]

    def mac(self, i: int) -> str:
        return self.macs[i]

    def sw(self, i: int) -> str:
        return self.sws[i]

    def in_sw(self, cmd: str | Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command inside the switch namespace."""
        return run(cmd, ns=self.ns, **kw)

    def carrier(self, i: int) -> bool:
        try:
            return Path(f"/sys/class/net/{self.vfs[i]}/carrier").read_text().strip() == "1"
        except OSError:  # down (EINVAL) or gone
            return False

    # -- build / destroy ----------------------------------------------------------------------
    def setup(self) -> Topology:
        self.teardown()
        self._switch()
        self._cable(list(range(len(self.macs))), list(self.vfs), standby=True)
        return self

    def _switch(self, ports: Sequence[tuple[str, str]] = ()) -> None:
        """Namespace `sw` with the bridge carrying the gateway; `ports` (netdev, name) move in from the
        root namespace as its ports."""
        run(["ip", "netns", "add", self.ns])
        ip_batch([c for nic, name in ports for c in (f"link set {nic} down", f"link set {nic} name {name}",
                                                      f"link set {name} netns {self.ns}")])
        ip_batch([
            "link set lo up",
            f"link add {self.bridge} type bridge stp_state 0 forward_delay 0",
            f"addr add {self.gw4}/{self.gw4_prefix} dev {self.bridge}",
            f"addr add {self.gw6}/{self.gw6_prefix} dev {self.bridge} nodad",
            f"link set {self.bridge} up",
            *[c for _, name in ports for c in (f"link set {name} master {self.bridge}", f"link set {name} up")],
        ], ns=self.ns)

    def _cable(self, idx: list[int], names: list[str], standby: bool = False) -> None:
        """veth pairs for VFs `idx` named `names` (and the standby), their peers on the bridge."""
        links = [(n, self.macs[i], self.sws[i]) for i, n in zip(idx, names, strict=True)]
        links += [(self.standby, self.standby_mac, self.standby_sw)] if standby else []
        ip_batch([f"link add {n} address {mac} type veth peer name {sw} netns {self.ns}" for n, mac, sw in links])
        for n, _, _ in links:  # IPv6 DAD on the VF netdev itself only adds noise
            with contextlib.suppress(OSError):
                Path(f"/proc/sys/net/ipv6/conf/{n}/accept_dad").write_text("0")
        ip_batch([c for _, _, sw in links for c in (f"link set {sw} master {self.bridge}", f"link set {sw} up")],
                 ns=self.ns)
        for i, n in zip(idx, names, strict=True):
            self.vfs[i] = n
        # let udev (and so NetworkManager) see the new VFs before anyone uses them
        run(["udevadm", "settle", "--timeout=30"], check=False, timeout=40)

    def teardown(self) -> None:
        # VFs first (takes their switch ports along, synchronously), then bonds, then the
        # namespace (whose cleanup is asynchronous in the kernel).
        gone = [f"link del {n}" for n in sorted({*self.vfs, "vf0", "vf1", self.standby}) if _link_exists(n)]
        gone += [f"link del {b}" for b in _bonds()]
        ip_batch(gone, check=False)
        self._drop_switch()

    def _drop_switch(self) -> None:
        """The switch namespace and what the tests did to its ports."""
        if os.path.exists(f"/run/netns/{self.ns}"):
            run(["ip", "netns", "del", self.ns], check=False)
        self.blackholed.clear()
        self.unplugged.clear()
        self.spoofcheck_on = False

    # -- events -------------------------------------------------------------------------------
    def cut_carrier(self, i: int) -> None:
        """VF carrier loss (PF link down / cable pull): the switch port goes down."""
        run(["ip", "-n", self.ns, "link", "set", self.sws[i], "down"])

    def restore_carrier(self, i: int) -> None:
        run(["ip", "-n", self.ns, "link", "set", self.sws[i], "up"])

    def blackhole(self, i: int) -> None:
        """Carrier stays up, but every frame to and from VF i is dropped at the switch port."""
        sw = self.sws[i]
        run(["tc", "-n", self.ns, "-batch", "-"], input=(
            f"qdisc replace dev {sw} clsact\n"
            f"filter replace dev {sw} ingress pref 1 matchall action drop\n"
            f"filter replace dev {sw} egress pref 1 matchall action drop\n"))
        self.blackholed.add(i)

    def unblackhole(self, i: int) -> None:
        run(["tc", "-n", self.ns, "qdisc", "del", "dev", self.sws[i], "clsact"], check=False)
        self.blackholed.discard(i)

    def blackhole_drops(self, i: int) -> int:
        """Frames dropped by blackhole() on switch port i (both directions)."""
        total = 0
        for direction in ("ingress", "egress"):
            out = run(["tc", "-n", self.ns, "-s", "-j", "filter", "show", "dev", self.sws[i],
                       direction], check=False)
            try:
                filters = json.loads(out.stdout or "[]")
            except json.JSONDecodeError:
                continue
            for flt in filters:
                for act in (flt.get("options") or {}).get("actions", []):
                    total += int((act.get("stats") or {}).get("packets", 0))
        return total

    def spoofcheck(self, on: bool = True) -> None:
        """Switch spoof-check: drop frames entering swN whose source MAC != VF N's MAC."""
        self.spoofcheck_on = on
        # add+delete makes the delete safe when the table does not exist (nft 1.0.6: no destroy)
        reset = "add table netdev spoof\ndelete table netdev spoof\n"
        if not on:
            self.in_sw(["nft", "-f", "-"], input=reset)
            return
        chains = "\n".join(
            f"  chain c{i} {{ type filter hook ingress device {self.sws[i]} priority 0; "
            f"ether saddr != {self.macs[i]} counter drop; }}"
            for i in range(len(self.macs))
            if i not in self.unplugged
        )
        self.in_sw(["nft", "-f", "-"], input=f"{reset}table netdev spoof {{\n{chains}\n}}\n")

    def spoof_drops(self) -> dict[int, int]:
        """Packets dropped by the spoof-check per VF index (0 when off)."""
        drops = {i: 0 for i in range(len(self.macs))}
        if not self.spoofcheck_on:
            return drops
        data = json.loads(self.in_sw("nft -j list table netdev spoof").stdout)
        for obj in data.get("nftables", []):
            rule = obj.get("rule")
            if not rule:
                continue
            i = int(rule["chain"].lstrip("c"))
            for expr in rule.get("expr", []):
                if "counter" in expr:
                    drops[i] += int(expr["counter"]["packets"])
        return drops

    def unplug(self, i: int) -> None:
        """VF hot-unplug / reset: the VF netdev (and its switch port) disappear."""
        run(["ip", "link", "del", self.vfs[i]])
        self.unplugged.add(i)
        self.blackholed.discard(i)

    def replug(self, i: int, name: str | None = None) -> str:
        """The VF comes back with the same MAC, maybe under another name; returns the name."""
        if i not in self.unplugged and _link_exists(self.vfs[i]):
            raise AssertionError(f"replug({i}): {self.vfs[i]} is still plugged")
        self._cable([i], [name or self.vfs[i]])
        self.unplugged.discard(i)
        if self.spoofcheck_on:
            self.spoofcheck(True)
        return self.vfs[i]

    def ping_gateway(self, v6: bool = False, count: int = 3, dev: str | None = None,
                     deadline: float = 10) -> bool:
        """ping the gateway (only ever the switch namespace's own address)."""
        argv = ["ping", "-6" if v6 else "-4", "-c", str(count), "-i", "0.2", "-W", "1",
                "-w", str(deadline)]
        if dev:
            argv += ["-I", dev]
        argv.append(self.gw6 if v6 else self.gw4)
        return run(argv, check=False, timeout=deadline + 5).returncode == 0


UDEV_RULE = Path("/run/udev/rules.d/86-vfbond-lab.rules")


@pytest.fixture(scope="session")
def lab_udev() -> None:
    """Let NetworkManager manage the veth "VFs" (and the veth standby, when a test lists it).

    virtme-ng runs systemd-udevd in the guest, and NetworkManager's own udev rule
    (85-nm-unmanaged.rules) marks every veth not named eth* NM_UNMANAGED=1, which no
    NetworkManager.conf setting overrides.  Real VFs are PCI devices and never match that rule,
    so a later rule (in the guest's tmpfs /run only) clears it for vf* and pv* again.  pv* stays
    unmanaged by the lab's NetworkManager config unless a test adds it to `managed`.
    """
    _require_guest()
    UDEV_RULE.parent.mkdir(parents=True, exist_ok=True)
    UDEV_RULE.write_text(
        'SUBSYSTEM=="net", ACTION=="add|change|move", ENV{INTERFACE}=="vf*|pv*", ENV{NM_UNMANAGED}="0"\n'
    )
    run(["udevadm", "control", "--reload"], check=False)


async def wait_ping(topology: Topology, v6: bool = False, timeout: float = 30.0) -> bool:
    """Ping the gateway through bond0 until it answers: right after a bond is (re)built its IPv6
    address is tentative (DAD) for a moment, and NetworkManager adds routes after addresses."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(topology.ping_gateway, v6, 1, "bond0", 3):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True


def make_topology(kind: str = "veth") -> Topology:
    """An unbuilt topology: "veth" (veth pairs) or "sriov" (real igbvf VFs, tests/lab/sriov.py)."""
    if kind == "sriov":
        from sriov import SriovTopology

        return SriovTopology()
    if kind != "veth":
        raise ValueError(f"unknown topology {kind!r} (veth, sriov)")
    return Topology()


@pytest.fixture
def topology(request: pytest.FixtureRequest, bonding: Path, lab_udev: None) -> Iterator[Topology]:
    """The veth topology, or the one named by indirect parametrization:
    ``@pytest.mark.parametrize("topology", ["veth", "sriov"], indirect=True)``."""
    _require_guest()
    topo = make_topology(getattr(request, "param", "veth")).setup()
    try:
        yield topo
    finally:
        topo.teardown()


# --------------------------------------------------------------------------------------------
# NetworkManager
# --------------------------------------------------------------------------------------------

SYSTEM_BUS_SOCKET = Path("/run/dbus/system_bus_socket")


def _bus_has(name: str) -> bool:
    done = run(
        ["dbus-send", "--system", "--print-reply", "--reply-timeout=5000",
         "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
         "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
        check=False, timeout=15,
    )
    return done.returncode == 0 and "boolean true" in done.stdout


NM_UNNEEDED_PLUGINS = ("adsl", "bluetooth", "wifi", "wwan", "team", "ovs")


def trim_nm_plugins() -> None:
    """Remove NetworkManager device plugins the lab never uses (~1 s each to load under TCG).

    Only inside the guest, only when /usr is the guest's throwaway overlay (tmpfs upper dir):
    the host's /usr is never touched.
    """
    _require_guest()
    fstype = {}
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        fstype[parts[1]] = parts[2]  # later mounts win, as in the kernel

    def mount_fstype(path: Path) -> str:
        best = max((m for m in fstype if path.as_posix() == m or
                    path.as_posix().startswith(m.rstrip("/") + "/")), key=len)
        return fstype[best]

    for lib in Path("/usr/lib").glob("*/NetworkManager/*/libnm-device-plugin-*.so"):
        if lib.stem.removeprefix("libnm-device-plugin-") not in NM_UNNEEDED_PLUGINS:
            continue
        if mount_fstype(lib.parent) != "overlay":  # not the guest's throwaway overlay: keep
            return
        lib.unlink()


def _nm_version() -> str:
    """NetworkManager's D-Bus property Version."""
    out = run(["dbus-send", "--system", "--print-reply=literal", "--reply-timeout=5000",
               f"--dest={NetworkManagerLab.BUS_NAME}", "/org/freedesktop/NetworkManager",
               "org.freedesktop.DBus.Properties.Get", f"string:{NetworkManagerLab.BUS_NAME}",
               "string:Version"], timeout=15).stdout
    return out.split()[-1]


def ensure_system_bus() -> None:
    if SYSTEM_BUS_SOCKET.exists() and _bus_has("org.freedesktop.DBus"):
        return
    Path("/run/dbus").mkdir(parents=True, exist_ok=True)
    SYSTEM_BUS_SOCKET.unlink(missing_ok=True)
    run(["dbus-daemon", "--system", "--fork", "--nopidfile"])
    wait_until(lambda: _bus_has("org.freedesktop.DBus"), 30, 0.2, "the system D-Bus")


# The seed's day0 nmcli lines (its cloud-init runcmd today): the bond line verbatim plus the bond's address
# (the seed sets it the same way), and the ports. vfbond must adopt what they built.
SEED_BOND = ["connection", "add", "type", "bond", "con-name", "bond0", "ifname", "bond0",
             "bond.options", "mode=active-backup,miimon=1000,fail_over_mac=1",
             "ipv4.method", "manual", "ipv4.addresses", "192.0.2.10/24", "ipv4.gateway", "192.0.2.1",
             "ipv6.method", "ignore"]
SEED_PORTS = [["connection", "add", "type", "ethernet", "con-name", f"bond0-port{i + 1}", "ifname", f"vf{i}",
               "master", "bond0"] for i in range(2)]


# The NetworkManager versions the lab runs: Debian 12's own, and RHEL 9's (1.46-1.52) from Debian trixie.
NM_VERSIONS = ("1.42", "1.52")


def _nm_argv(version: str) -> list[str]:
    """The command that starts NetworkManager `version` (its options follow)."""
    if version == NM_VERSIONS[0]:
        return ["NetworkManager"]
    if version == NM_VERSIONS[1]:
        from nm_chroot import argv

        return argv()
    raise ValueError(f"no NetworkManager {version!r} in the lab ({', '.join(NM_VERSIONS)})")


# What the lab's NetworkManager manages unless a test lists more (the standby, pv*, is not in it).
NM_MANAGED = ("vf*", "bond*")


class NetworkManagerLab:
    """A private NetworkManager: config, keyfiles, state and log in its own temp dir.

    `version` picks the binary (NM_VERSIONS); it may change between a stop and the next start, as in
    an upgraded VM: same config, same keyfiles.
    """

    BUS_NAME = "org.freedesktop.NetworkManager"

    def __init__(self, managed: Sequence[str] = NM_MANAGED, start_timeout: float = 90,
                 version: str = NM_VERSIONS[0]):
        self.version = version
        self.dir = Path(tempfile.mkdtemp(prefix="vfbond-nm-"))
        self.keyfiles = self.dir / "system-connections"
        self.conf = self.dir / "NetworkManager.conf"
        self.log_path = self.dir / "NetworkManager.log"
        self.managed = tuple(managed)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        for sub in ("system-connections", "conf.d", "system-conf.d"):
            (self.dir / sub).mkdir(mode=0o700)
        unmanaged = ",".join(["*"] + [f"except:interface-name:{p}" for p in self.managed])
        self.conf.write_text(
            "[main]\n"
            "plugins=keyfile\n"
            "no-auto-default=*\n"
            "dns=none\n"
            "rc-manager=unmanaged\n"
            "auth-polkit=false\n"
            "dhcp=internal\n"
            "[keyfile]\n"
            f"path={self.keyfiles}\n"
            f"unmanaged-devices={unmanaged}\n"
            "[connectivity]\n"
            "enabled=false\n"
            "[logging]\n"
            f"level={os.environ.get('VFBOND_LAB_NM_LOGLEVEL', 'INFO')}\n"
        )

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running else None

    def start(self) -> None:
        if self.running:
            return
        ensure_system_bus()
        trim_nm_plugins()
        if _bus_has(self.BUS_NAME):
            raise AssertionError("another NetworkManager already owns the bus name in the guest")
        argv = [
            *_nm_argv(self.version), "--debug",  # --debug: foreground and log to stderr (our log file)
            f"--config={self.conf}",
            f"--config-dir={self.dir / 'conf.d'}",
            f"--system-config-dir={self.dir / 'system-conf.d'}",
            f"--intern-config={self.dir / 'intern.conf'}",
            f"--state-file={self.dir / 'NetworkManager.state'}",
            f"--pid-file={self.dir / 'NetworkManager.pid'}",
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"==== start {time.strftime('%H:%M:%S')}: {shlex.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        deadline = t0 + self.start_timeout
        while not _bus_has(self.BUS_NAME):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"NetworkManager exited with {self.proc.returncode} during start\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"NetworkManager not on the bus after {self.start_timeout}s\n"
                                     f"{self.log_tail()}")
            time.sleep(0.2)
        left = max(5, int(deadline - time.monotonic()))
        done = run(["nm-online", "-s", "-q", f"--timeout={left}"], check=False, timeout=left + 10)
        if done.returncode != 0:
            raise AssertionError(f"NetworkManager startup did not complete ({done.returncode})\n"
                                 f"{self.log_tail()}")
        self.start_seconds = time.monotonic() - t0
        running = _nm_version()
        if not running.startswith(self.version + "."):
            raise AssertionError(f"asked for NetworkManager {self.version}, D-Bus says {running!r}")

    def stop(self, timeout: float = 30) -> None:
        """Graceful stop (SIGTERM): NM leaves the devices as they are."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """Crash NetworkManager (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        wait_until(lambda: not _bus_has(self.BUS_NAME), 15, 0.2, "NetworkManager to leave the bus")

    def restart(self, version: str | None = None) -> None:
        """Stop, then start again: the same version, or `version` on the same config and keyfiles."""
        self.stop()
        wait_until(lambda: not _bus_has(self.BUS_NAME), 15, 0.2, "NetworkManager to leave the bus")
        self.version = version or self.version
        self.start()

    # -- use ------------------------------------------------------------------------------------
    def nmcli(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        return run(["nmcli", *args], check=check, timeout=timeout).stdout

    def connections(self) -> list[tuple[str, str]]:
        """(uuid, name) of every connection profile."""
        out = self.nmcli("-t", "-f", "UUID,NAME", "connection", "show")
        rows = []
        for line in out.splitlines():
            uuid, _, name = line.partition(":")
            if uuid:
                rows.append((uuid, name))
        return rows

    def cleanup_connections(self) -> None:
        if self.running:
            uuids = [u for u, _ in self.connections()]
            if uuids:
                self.nmcli("connection", "delete", *uuids, check=False, timeout=90)
        for f in self.keyfiles.glob("*"):
            f.unlink()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no NetworkManager log)"
        return "--- NetworkManager log (tail) ---\n" + "\n".join(text[-lines:])

    def close(self, keep_log_as: str | None = None) -> None:
        """Stop NM, delete the bonds it left behind, drop its temp dir (config, keyfiles).

        Each instance has its own keyfile dir, so no profile survives into the next test.
        With VFBOND_LAB_RESULTS set, the log is kept there as nm-<keep_log_as>.log.
        """
        try:
            self.stop()
            purge_bonds()
        finally:
            results = os.environ.get("VFBOND_LAB_RESULTS")
            if keep_log_as and results and self.log_path.exists():
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in keep_log_as)
                shutil.copy(self.log_path, Path(results) / f"nm-{safe}.log")
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def networkmanager(request: pytest.FixtureRequest, lab_udev: None) -> Iterator[NetworkManagerLab]:
    """A fresh private NetworkManager for this test (stopped and cleaned afterwards): 1.42, or the
    version named by indirect parametrization:
    ``@pytest.mark.parametrize("networkmanager", NM_VERSIONS, indirect=True)``.

    Request it AFTER ``topology`` (``def test_x(topology, networkmanager)``) so that NM is torn
    down first and deletes its connections while the VFs still exist.
    """
    _require_guest()
    nm = NetworkManagerLab(version=getattr(request, "param", NM_VERSIONS[0]))
    request.node.stash[_NM_KEY] = nm
    nm.start()
    try:
        yield nm
    finally:
        nm.close(keep_log_as=request.node.name)


_NM_KEY = pytest.StashKey[NetworkManagerLab]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    nm = item.stash.get(_NM_KEY, None)
    if nm is not None and report.failed:
        report.sections.append((f"NetworkManager log ({report.when})", nm.log_tail()))
