"""simulate-failover refuses a test that is not fair or not safe, before it touches the bond."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vfbond.config import Config, parse
from vfbond.kernel.bond_state import BondState, LinkInfo, SlaveState
from vfbond.supervise.simulate import Refused, pick_backup


def link(name: str, index: int) -> LinkInfo:
    return LinkInfo(index=index, name=name, mac=f"fa:16:3e:00:00:0{index}", perm_mac=None, kind="veth",
                    master=9, carrier=True, operstate="UP", mtu=1500)


def bond(active: str | None, names: tuple[str, ...] = ("vf0", "vf1")) -> BondState:
    slaves = [SlaveState(link(n, i + 1), "active" if n == active else "backup", "up", 0, None)
              for i, n in enumerate(names)]
    return BondState(link=link("bond0", 9), mode="active-backup", active_slave=active, miimon=100, updelay=0,
                     downdelay=0, fail_over_mac="active", primary=None, primary_reselect="always", arp_interval=0,
                     arp_ip_targets=[], num_peer_notif=1, slaves=slaves)


SLAVES = """bond:
  slaves:
    - {label: sriov0, mac: "fa:16:3e:00:00:01"}
    - {label: sriov1, mac: "fa:16:3e:00:00:02"}
"""
WITH_GATEWAY = parse(SLAVES + "  ipv4: {addresses: [192.0.2.10/24], gateway: 192.0.2.1}\n", host_checks=False)


@dataclass
class Sup:
    """What pick_backup reads of the supervisor."""

    state: BondState | None
    health: dict[str, str] = field(default_factory=dict)
    bond: str = "bond0"
    config: Config = WITH_GATEWAY

    def verdicts(self) -> dict[str, str]:
        return self.health


def test_a_healthy_backup_is_picked() -> None:
    assert pick_backup(Sup(bond("vf0"), {"vf0": "up", "vf1": "up"})) == ("vf0", "vf1")  # type: ignore[arg-type]


@pytest.mark.parametrize(("sup", "no_bond", "says"), [
    (Sup(None), True, "bond0 not present"),
    (Sup(bond(None)), False, "no active slave and backup to switch between (active: none, slaves: vf0, vf1)"),
    (Sup(bond("vf0", ("vf0",))), False, "(active: vf0, slaves: vf0)"),
    (Sup(bond("vf0"), {"vf1": "path_down"}), False, "backup vf1 is path_down: switching to it would cut the VM off"),
    (Sup(bond("vf0")), False, "backup vf1 is unknown"),
])
def test_refusals_say_why_and_which_code(sup: Sup, no_bond: bool, says: str) -> None:
    with pytest.raises(Refused) as refused:
        pick_backup(sup)  # type: ignore[arg-type]
    assert refused.value.no_bond is no_bond and says in str(refused.value)


def test_force_switches_to_an_unhealthy_backup() -> None:
    assert pick_backup(Sup(bond("vf0"), {"vf1": "down"}), force=True) == ("vf0", "vf1")  # type: ignore[arg-type]


def test_a_bond_with_nothing_to_ask_is_refused_unless_forced() -> None:
    """Without a gateway or probe target the switch could not be proven: refused before touching the bond
    (exit 5, REFUSED), not a silent exit 0."""
    untestable = Sup(bond("vf0"), {"vf0": "up", "vf1": "up"}, config=parse(SLAVES, host_checks=False))
    with pytest.raises(Refused) as refused:
        pick_backup(untestable)  # type: ignore[arg-type]
    assert refused.value.no_bond is False and "no gateway or probe target" in str(refused.value)
    assert "--force" in str(refused.value)
    assert pick_backup(untestable, force=True) == ("vf0", "vf1")  # type: ignore[arg-type]


async def test_a_switch_the_kernel_never_shows_leaves_no_pin_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pin on a slave the switch never reached made a later real failover onto it permanent: no failback
    (the lab's round trip timed out once, and every later test found the bond still on vf1)."""
    from vfbond.supervise import simulate

    async def read_bond(ipr: object, name: str) -> BondState:
        return bond("vf0")  # the kernel keeps vf0

    class Switching:
        state, pinned, ipr = bond("vf0"), None, None
        config = parse(SLAVES, host_checks=False)

        async def switch(self, target: str, reason: str) -> None:
            pass

    monkeypatch.setattr(simulate, "read_bond", read_bond)
    sup = Switching()
    with pytest.raises(TimeoutError, match="did not make vf1 active"):
        await simulate.switch_and_prove(sup, "vf1", "simulate-failover", timeout=0.05)  # type: ignore[arg-type]
    assert sup.pinned is None
