"""The "sriov" lab topology: real igbvf VFs of two emulated Intel 82576 PFs, as a VM sees them.

lab/run.sh gives the guest two igb PFs, each alone on a QEMU hub with a virtio NIC as its switch
port.  Here the PFs are renamed pf0/pf1 and moved into namespace ``host``: they and their log
lines belong to the host, as in a real VM.  Each PF gets one VF with an administrative MAC as
Nova sets it (trust off, spoof check on), and the VFs stay in the guest's root namespace, named by
a udev rule on their PCI address as an image's naming rules would (ens6, ens7 by default).  The
virtio NICs join the switch bridge of the base Topology, so gateway, blackhole and spoof-check work
as on veth.  A third virtio NIC stays in the guest as the paravirtual standby of a live migration
(virtio_net, renamed pvio0, its own hub and switch port swpv): a real paravirtual driver.

Events, as a host would cause them:
  cut_carrier / restore_carrier   PF reset: PF admin down / up; the VF's carrier follows (back
                                  4-8 s after the PF)
  cable_pull / cable_restore      QMP set_link on the PF (through lab/qmp_relay.py): the VF keeps
                                  carrier while its traffic dies
  unplug / replug                 sriov_numvfs 1 -> 0 -> 1: a new VF netdev (new ifindex), with a
                                  random MAC until the host sets the admin MAC and the VF reloads
  set_trust, set_admin_mac        `ip link set <pf> vf 0 trust|mac`
  migrate                         what the guest sees in a Nova live migration: both VFs gone
                                  (sriov_numvfs 0), a pause, VFs with the same admin MACs back
                                  (reverse order, maybe new names, maybe one never); also in two
                                  halves, detach_vfs / attach_vfs
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Topology, _link_exists, ip_batch, purge_bonds, run, wait_until

HOST_NS = "host"
PCI = Path("/sys/bus/pci")
SW_NIC_MACS = ("52:54:00:00:01:00", "52:54:00:00:01:01")  # the virtio switch ports (lab/run.sh)
SRIOV_MACS = ("fa:16:3e:00:01:01", "fa:16:3e:00:01:02")
# the standby virtio NIC and its switch port (lab/run.sh's hub 2); never vf*/bond*/ens*, so no
# NetworkManager of the lab manages it unless a test lists it
SRIOV_STANDBY, SRIOV_STANDBY_MAC, SW_STANDBY_NIC_MAC = "pvio0", "fa:16:3e:00:01:0a", "52:54:00:00:01:02"
VF_NAMES = ("ens6", "ens7")
# the names a migration's destination gives the VFs with rename=True (another PCI address)
MIGRATED_NAMES = ("ens16", "ens17")
UDEV_NAMES = Path("/run/udev/rules.d/99-vfbond-lab-vf-names.rules")
VF_BACK_SECONDS = 30.0  # carrier after a PF reset is back in 4-8 s; more under a loaded emulation


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _netdev_with_mac(mac: str) -> str | None:
    for dev in Path("/sys/class/net").iterdir():
        try:
            if (dev / "address").read_text().strip() == mac:
                return dev.name
        except OSError:
            continue
    return None


def qmp(execute: str, **arguments: object) -> object:
    """Run a QMP command on the lab's QEMU, through the host-side relay (lab/run.sh)."""
    folder = Path(os.environ["VFBOND_LAB_RESULTS"], "qmp")
    name = uuid.uuid4().hex
    tmp = folder / f"{name}.tmp"
    tmp.write_text(json.dumps({"execute": execute, "arguments": arguments}))
    tmp.rename(folder / f"{name}.json")
    reply_path = folder / f"{name}.reply"
    reply = json.loads(wait_until(lambda: reply_path.exists() and reply_path.read_text(), 30, 0.02,
                                  f"the QMP relay to answer {execute} (lab/qmp_relay.py; see qmp-relay.log)"))
    reply_path.unlink()
    if "error" in reply:
        raise AssertionError(f"QMP {execute} {arguments}: {reply['error']}")
    return reply["return"]


@dataclass
class Migration:
    """What migrate() did, on the realtime clock (time.time(), as timeline.py's records and vfbond's
    events): detach begun, both VFs gone, re-attach begun, and each VF back (its netdev present under
    its name with its admin MAC), by VF index."""

    detach: float
    gone: float
    attach: float = 0.0
    back: dict[int, float] = field(default_factory=dict)
    order: tuple[int, ...] = ()  # the order the VFs were re-attached in
    names: tuple[str, ...] = ()  # the VFs' names afterwards
    missing: tuple[int, ...] = ()  # VFs left out (never_return)

    @property
    def gone_after(self) -> float:
        return self.gone - self.detach

    def back_after(self, i: int) -> float:
        """Seconds from the re-attach's start to VF i back."""
        return self.back[i] - self.attach


@dataclass
class SriovTopology(Topology):
    kind = "sriov"
    # named as an image's udev rules would, with admin MACs of their own: the veth topology
    # (vf0, vf1, fa:16:3e:00:00:0x) may be built in the same boot while these VFs exist
    vfs: list[str] = field(default_factory=lambda: list(VF_NAMES))
    macs: tuple[str, ...] = SRIOV_MACS
    pfs: tuple[str, ...] = ("pf0", "pf1")
    pf_pci: list[str] = field(default_factory=list)
    host_ns: str = HOST_NS
    standby: str = SRIOV_STANDBY
    standby_mac: str = SRIOV_STANDBY_MAC
    carrier_back_s: float = VF_BACK_SECONDS
    cables_pulled: set[int] = field(default_factory=set)

    # -- the host's side, once per boot -------------------------------------------------------
    def _discover(self) -> None:
        self.pf_pci = sorted(p.name for p in (PCI / "drivers/igb").glob("0000:*")) \
            if (PCI / "drivers/igb").is_dir() else []
        if len(self.pf_pci) != 2:
            pytest.fail(f"the sriov topology needs two igb PFs (lab/run.sh adds them); found {self.pf_pci}",
                        pytrace=False)

    def vf_pci(self, i: int, n: int = 0) -> str | None:
        """PCI address of PF i's VF n, None while it has no such VF."""
        link = PCI / "devices" / self.pf_pci[i] / f"virtfn{n}"
        return os.path.basename(os.readlink(link)) if link.exists() else None

    def _host_setup(self) -> None:
        """PFs into the host namespace as pf0/pf1, up (a PF that is down keeps its VFs without carrier)."""
        run(["modprobe", "-a", "igb", "igbvf"])
        self._discover()
        if not os.path.exists(f"/run/netns/{self.host_ns}"):
            run(["ip", "netns", "add", self.host_ns])
        for i, pci in enumerate(self.pf_pci):
            names = os.listdir(PCI / "devices" / pci / "net") if (PCI / "devices" / pci / "net").is_dir() else []
            if names:  # still in the root namespace under its udev name
                ip_batch([f"link set {names[0]} down", f"link set {names[0]} name {self.pfs[i]}",
                          f"link set {self.pfs[i]} netns {self.host_ns}"])
        ip_batch([f"link set {pf} up" for pf in self.pfs], ns=self.host_ns)

    def in_host(self, cmd: str) -> None:
        run(cmd, ns=self.host_ns)

    # -- VFs ----------------------------------------------------------------------------------
    def _name_rules(self, extra: Sequence[tuple[str, str]] = ()) -> None:
        """udev names each VF by its PCI address, as an image's naming rules would; `extra`: more
        (PCI address, name) pairs."""
        rules = [f'SUBSYSTEM=="net", ACTION=="add", KERNELS=="{pci}", NAME:="{name}"'
                 for pci, name in [*((self.vf_pci(i) or self._expected_vf_pci(i), self.vfs[i])
                                     for i in range(len(self.pfs))), *extra]]
        UDEV_NAMES.parent.mkdir(parents=True, exist_ok=True)
        UDEV_NAMES.write_text("\n".join(rules) + "\n")
        run(["udevadm", "control", "--reload"], check=False)

    def _expected_vf_pci(self, i: int, n: int = 0) -> str:
        # igb's VFs: offset 0x80, stride 2 on the PF's bus (device 0x10, functions 0, 2, ...)
        return f"{self.pf_pci[i][:-4]}10.{2 * n}"

    def _numvfs(self, i: int, n: int) -> None:
        _write(PCI / "devices" / self.pf_pci[i] / "sriov_numvfs", str(n))

    def _reload_vf(self, i: int, n: int = 0) -> None:
        """Unbind and bind the VF driver: the VF takes the admin MAC the host set."""
        pci = self.vf_pci(i, n)
        assert pci, f"PF {self.pfs[i]} has no VF {n}"
        if (PCI / "devices" / pci / "driver").exists():
            _write(PCI / "devices" / pci / "driver/unbind", pci)
        _write(PCI / "drivers/igbvf/bind", pci)

    def _create_vf(self, i: int, admin_mac: bool = True) -> None:
        self._numvfs(i, 1)
        if admin_mac:
            self.in_host(f"ip link set {self.pfs[i]} vf 0 mac {self.macs[i]}")
            self._reload_vf(i)
        run(["udevadm", "settle", "--timeout=30"], check=False, timeout=40)

    def _vf_ready(self, i: int) -> bool:
        name = self.vfs[i]
        try:
            return Path(f"/sys/class/net/{name}/address").read_text().strip() == self.macs[i]
        except OSError:
            return False

    # -- build / destroy ----------------------------------------------------------------------
    def setup(self) -> SriovTopology:
        if not self.pf_pci:
            self._host_setup()
        self.teardown()
        self._name_rules()
        for i in range(len(self.pfs)):
            if self.vf_pci(i) is None:
                self._create_vf(i)
            elif not self._vf_ready(i) or self.vf_pci(i, 1):  # renamed, a foreign MAC or a second VF left by a test
                self._numvfs(i, 0)
                self._create_vf(i)
        for i, vf in enumerate(self.vfs):
            wait_until(lambda i=i: self._vf_ready(i), 30, 0.1, f"{vf} with its admin MAC {self.macs[i]}")
        # a fresh VF (and standby): down, no addresses, trust off, spoof check on (as Nova leaves it)
        ip_batch(self._standby_named() + self._down_and_flushed())
        ip_batch([f"link set {pf} vf 0 trust off spoofchk on" for pf in self.pfs], ns=self.host_ns)
        self._switch()
        return self

    def _standby_named(self) -> list[str]:
        """`ip` commands that give the standby virtio NIC its lab name (once per boot; it must be down)."""
        nic = wait_until(lambda: _netdev_with_mac(self.standby_mac), 30, 0.1, f"standby virtio NIC {self.standby_mac}")
        return [] if nic == self.standby else [f"link set {nic} down", f"link set {nic} name {self.standby}"]

    def _down_and_flushed(self) -> list[str]:
        return [c for n in (*self.vfs, self.standby) for c in (f"link set {n} down", f"addr flush dev {n}")]

    def _switch(self, ports: Sequence[tuple[str, str]] = ()) -> None:
        """The virtio NICs (back in the root namespace once `sw` is gone) are the switch's ports."""
        nics = [wait_until(lambda m=mac: _netdev_with_mac(m), 30, 0.1, f"virtio switch port {mac}")
                for mac in (*SW_NIC_MACS, SW_STANDBY_NIC_MAC)]
        super()._switch(list(zip(nics, (*self.sws, self.standby_sw), strict=True)))

    def teardown(self) -> None:
        purge_bonds()
        if self.pf_pci:  # nothing a test configured may route the next test's traffic (veth or sriov)
            ip_batch(self._down_and_flushed(), check=False)
        for i in sorted(self.cables_pulled):
            self.cable_restore(i)
        if self.pf_pci:
            ip_batch([f"link set {pf} up" for pf in self.pfs], ns=self.host_ns, check=False)
        self._drop_switch()  # the virtio ports return to the root namespace

    # -- events -------------------------------------------------------------------------------
    def cut_carrier(self, i: int) -> None:
        self.pf_reset(i)

    def restore_carrier(self, i: int) -> None:
        self.pf_restore(i)

    def pf_reset(self, i: int) -> None:
        """The host resets PF i (admin down): its VF loses carrier."""
        self.in_host(f"ip link set {self.pfs[i]} down")

    def pf_restore(self, i: int) -> None:
        """PF i up again: the VF's carrier returns by itself seconds later."""
        self.in_host(f"ip link set {self.pfs[i]} up")

    def cable_pull(self, i: int) -> None:
        qmp("set_link", name=self.pfs[i], up=False)
        self.cables_pulled.add(i)

    def cable_restore(self, i: int) -> None:
        qmp("set_link", name=self.pfs[i], up=True)
        self.cables_pulled.discard(i)

    def set_trust(self, i: int, on: bool) -> None:
        self.in_host(f"ip link set {self.pfs[i]} vf 0 trust {'on' if on else 'off'}")

    def set_admin_mac(self, i: int, mac: str) -> None:
        self.in_host(f"ip link set {self.pfs[i]} vf 0 mac {mac}")

    def unplug(self, i: int) -> None:
        """The host takes the VF away (sriov_numvfs 0): its netdev vanishes."""
        self._numvfs(i, 0)
        wait_until(lambda: not _link_exists(self.vfs[i]), 15, 0.1, f"{self.vfs[i]} gone")
        self.unplugged.add(i)
        self.blackholed.discard(i)

    def replug(self, i: int, name: str | None = None) -> str:
        return self.recreate_vf(i, name)

    def recreate_vf(self, i: int, name: str | None = None, admin_mac: bool = True) -> str:
        """A new VF on PF i (new ifindex), named `name` by udev; without admin_mac it keeps the
        random MAC igbvf gives it until the host sets one."""
        if self.vf_pci(i) is not None:
            self._numvfs(i, 0)
        self.vfs[i] = name or self.vfs[i]
        self._name_rules()
        self._create_vf(i, admin_mac)
        self.unplugged.discard(i)
        if admin_mac:
            wait_until(lambda: self._vf_ready(i), 30, 0.1, f"{self.vfs[i]} back with {self.macs[i]}")
        if self.spoofcheck_on:
            self.spoofcheck(True)
        return self.vfs[i]

    def add_second_vf(self, i: int, mac: str, name: str) -> str:
        """A second VF on PF i with admin MAC `mac`, named `name`: Nova attached a new port. PF i's VFs
        are re-created for it (sriov_numvfs 0 -> 2): its first VF goes away and returns, as itself."""
        self._numvfs(i, 0)
        wait_until(lambda: not _link_exists(self.vfs[i]), 15, 0.1, f"{self.vfs[i]} gone")
        self._name_rules(extra=[(self._expected_vf_pci(i, 1), name)])
        self._numvfs(i, 2)
        for n, admin in enumerate((self.macs[i], mac)):
            self.in_host(f"ip link set {self.pfs[i]} vf {n} mac {admin}")
            self._reload_vf(i, n)
        run(["udevadm", "settle", "--timeout=30"], check=False, timeout=40)
        wait_until(lambda: self._vf_ready(i), 30, 0.1, f"{self.vfs[i]} back with {self.macs[i]}")
        wait_until(lambda: _link_exists(name) and Path(f"/sys/class/net/{name}/address").read_text().strip() == mac,
                   30, 0.1, f"{name} with its admin MAC {mac}")
        ip_batch([f"link set {self.pfs[i]} vf 1 trust off spoofchk on"], ns=self.host_ns)
        return name

    # -- live migration (issue #22) -------------------------------------------------------------
    def migrate(self, pause_s: float, rename: bool | Sequence[str] = False, reverse: bool = True,
                never_return: int | None = None) -> Migration:
        """What the guest sees while Nova live-migrates it: both VFs hot-unplugged, `pause_s` on the
        standby, new VFs with the same admin MACs hot-plugged (see attach_vfs)."""
        m = self.detach_vfs()
        time.sleep(pause_s)
        return self.attach_vfs(m, rename, reverse, never_return)

    def detach_vfs(self) -> Migration:
        """Both VFs removed by the host (sriov_numvfs 0 on each PF, PF 0 first)."""
        detach = time.time()
        for i in range(len(self.pfs)):
            self._numvfs(i, 0)
        wait_until(lambda: not any(_link_exists(vf) for vf in self.vfs), 15, 0.02, f"{self.vfs} gone")
        self.unplugged.update(range(len(self.pfs)))
        return Migration(detach=detach, gone=time.time())

    def attach_vfs(self, m: Migration | None = None, rename: bool | Sequence[str] = False, reverse: bool = True,
                   never_return: int | None = None) -> Migration:
        """The destination's VFs: each unplugged VF but `never_return` comes back with its admin MAC,
        one after the other (reverse: VF 1 first), under new names if `rename` (True: MIGRATED_NAMES,
        or back to the defaults if the VFs have those already; or the names given).  Call it again
        later to bring back a VF left out: an aborted migration's late return."""
        m = m or Migration(detach=0.0, gone=0.0)
        m.attach = time.time()
        if rename:
            names = rename if rename is not True else VF_NAMES if self.vfs == list(MIGRATED_NAMES) else MIGRATED_NAMES
            self.vfs = [names[i] if i in self.unplugged else vf for i, vf in enumerate(self.vfs)]
        self._name_rules()
        order = sorted(self.unplugged - {never_return}, reverse=reverse)
        for i in order:
            self._hotplug_vf(i)
            wait_until(lambda i=i: self._vf_ready(i), 30, 0.02, f"{self.vfs[i]} back with {self.macs[i]}")
            m.back[i] = time.time()
            self.unplugged.discard(i)
        if self.spoofcheck_on:
            self.spoofcheck(True)
        m.order, m.names, m.missing = tuple(order), tuple(self.vfs), tuple(sorted(self.unplugged))
        return m

    def _hotplug_vf(self, i: int) -> None:
        """A VF that appears once, already with its admin MAC, as a hot-plugged VF does (its host set the
        MAC before the plug): created without a driver, MAC set, then igbvf bound to it."""
        autoprobe = PCI / "devices" / self.pf_pci[i] / "sriov_drivers_autoprobe"
        _write(autoprobe, "0")
        try:
            self._numvfs(i, 1)
            self.in_host(f"ip link set {self.pfs[i]} vf 0 mac {self.macs[i]}")
        finally:
            _write(autoprobe, "1")
        _write(PCI / "drivers/igbvf/bind", self.vf_pci(i) or self._expected_vf_pci(i))

    def wait_carrier(self, i: int, timeout: float = VF_BACK_SECONDS) -> float:
        t0 = time.monotonic()
        wait_until(lambda: self.carrier(i), timeout, 0.1, f"{self.vfs[i]} carrier back")
        return time.monotonic() - t0
