"""simulate-failover: what it asks for (ARP, else Neighbor Solicitation), and from which address."""

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


def test_a_bond_without_ipv4_asks_its_ipv6_gateway() -> None:
    """An IPv6-only bond is proven with Neighbor Solicitations (their source comes from the MAC)."""
    assert target_of("""  ipv6: {addresses: ["2001:db8::10/64"], gateway: "2001:db8::1"}
""") == ("2001:db8::1", None)


def test_without_ipv4_an_ipv6_probe_target_comes_before_the_gateway() -> None:
    assert target_of("""  ipv6: {addresses: ["2001:db8::10/64"], gateway: "fe80::1"}
probes: {enabled: true, targets: ["2001:DB8:0::fe"]}
""") == ("2001:db8::fe", None)


def test_a_bond_without_gateways_or_targets_has_nothing_to_ask() -> None:
    assert target_of("""  ipv6: {addresses: ["2001:db8::10/64"]}
""") == (None, None)
