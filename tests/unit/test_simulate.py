"""simulate-failover: what it ARPs for, and from which address."""

from __future__ import annotations

from types import SimpleNamespace

from vfbond.config import parse
from vfbond.supervise.simulate import probe_target

SLAVES = """bond:
  slaves:
    - {label: sriov0, mac: "fa:16:3e:00:00:01"}
    - {label: sriov1, mac: "fa:16:3e:00:00:02"}
"""


def target_of(extra: str) -> tuple[str | None, str | None]:
    return probe_target(SimpleNamespace(config=parse(SLAVES + extra, host_checks=False)))  # type: ignore[arg-type]


def test_the_first_ipv4_probe_target_is_asked_from_the_bonds_first_address() -> None:
    assert target_of("""  ipv4: {addresses: [192.0.2.10/24, 192.0.2.11/24], gateway: 192.0.2.1}
probes: {enabled: true, targets: ["2001:db8::1", 192.0.2.254, 192.0.2.1]}
""") == ("192.0.2.254", "192.0.2.10")


def test_without_ipv4_probe_targets_the_gateway_is_asked() -> None:
    assert target_of("""  ipv4: {addresses: [192.0.2.10/24], gateway: 192.0.2.1}
probes: {enabled: true, targets: ["2001:db8::1"]}
""") == ("192.0.2.1", "192.0.2.10")


def test_a_bond_without_ipv4_has_nothing_to_arp_for() -> None:
    assert target_of("""  ipv6: {addresses: ["2001:db8::10/64"], gateway: "2001:db8::1"}
""") == (None, None)
