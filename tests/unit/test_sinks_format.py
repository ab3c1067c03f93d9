"""What each sink puts on the wire, as pure functions: syslog lines, journal fields, SNMP varbinds."""

import re

import pytest
from pysnmp.proto.rfc1902 import OctetString

from vfbond.mib import SNMP_ROOT
from vfbond.shared.events import Event, EventType
from vfbond.sinks.journald import MESSAGE_IDS, journal_fields
from vfbond.sinks.snmp import LINK_DOWN, LINK_UP, NOTIFICATIONS, notification_varbinds
from vfbond.sinks.syslog import BOM, format_message, octet_frame, sd_escape

FAILOVER = Event(EventType.FAILOVER, "bond0", slave="vf0", old_active="vf0", new_active="vf1",
                 reason="carrier lost", time=1_700_000_000.25)

RFC5424 = re.compile(rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
                     rb"(?P<msgid>\S+) (?P<sd>\[.*\]) (?P<msg>.*)$", re.S)


def plain(varbinds: list) -> list[tuple[str, str | int]]:
    return [(oid, str(v) if isinstance(v, OctetString) else int(v)) for oid, v in varbinds]


def syslog_line(event: Event) -> re.Match[bytes]:
    match = RFC5424.match(format_message(event, hostname="vm-1", app_name="vfbondd", procid="42"))
    assert match is not None
    return match


@pytest.mark.parametrize(("kind", "pri"), [(EventType.FAILOVER, 28), (EventType.BOND_ISOLATED, 26),
                                           (EventType.SLAVE_MISSING, 27), (EventType.FAILBACK, 29),
                                           (EventType.DAEMON, 30)])
def test_syslog_pri_is_facility_daemon_and_the_event_severity(kind: EventType, pri: int) -> None:
    assert int(syslog_line(Event(kind, "bond0")).group("pri")) == pri


def test_syslog_header_structured_data_and_message() -> None:
    m = syslog_line(FAILOVER)
    assert m.group("ts") == b"2023-11-14T22:13:20.250000Z"
    assert (m.group("host"), m.group("app"), m.group("procid"), m.group("msgid")) == \
        (b"vm-1", b"vfbondd", b"42", b"failover")
    assert m.group("sd") == (b'[vfbond@32473 bond="bond0" slave="vf0" old="vf0" new="vf1" '
                             b'reason="carrier lost" type="failover"]')
    assert m.group("msg") == BOM + b"bond0: failover slave=vf0 vf0 -> vf1 (carrier lost)"


def test_syslog_leaves_out_absent_params_and_adds_details() -> None:
    event = Event(EventType.FLAP_SUMMARY, "bond0", slave="vf1", details={"suppressed": 7, "state": "down"})
    assert syslog_line(event).group("sd") == (b'[vfbond@32473 bond="bond0" slave="vf1" type="flap_summary"]'
                                              b'[vfbondDetails@32473 suppressed="7" state="down"]')


def test_sd_param_values_escape_quote_backslash_and_bracket() -> None:
    assert sd_escape('a "b" \\c] d') == 'a \\"b\\" \\\\c\\] d'
    event = Event(EventType.WARNING, "bond0", reason='fail_over_mac="none" [bad]')
    assert b'reason="fail_over_mac=\\"none\\" [bad\\]"' in syslog_line(event).group("sd")


def test_header_fields_keep_only_printable_ascii_and_use_nil_when_empty() -> None:
    message = format_message(FAILOVER, hostname="", app_name="vf bond", procid="42")
    assert message.startswith(b"<28>1 2023-11-14T22:13:20.250000Z - vfbond 42 failover [")


def test_octet_counting_frame_counts_bytes_not_characters() -> None:
    message = "é".encode()
    assert octet_frame(message) == b"2 \xc3\xa9"


def test_journal_fields() -> None:
    assert journal_fields(FAILOVER) == {
        "MESSAGE": "bond0: failover slave=vf0 vf0 -> vf1 (carrier lost)",
        "MESSAGE_ID": MESSAGE_IDS[EventType.FAILOVER],
        "PRIORITY": 4,
        "SYSLOG_IDENTIFIER": "vfbondd",
        "SYSLOG_FACILITY": 3,
        "EVENT_TYPE": "failover",
        "BOND": "bond0",
        "SLAVE": "vf0",
        "OLD_ACTIVE": "vf0",
        "NEW_ACTIVE": "vf1",
        "REASON": "carrier lost",
    }
    fields = journal_fields(Event(EventType.BOND_ISOLATED, "bond0", details={"probes": "lost"}))
    assert "SLAVE" not in fields and "REASON" not in fields
    assert fields["PRIORITY"] == 2 and fields["DETAILS"] == '{"probes": "lost"}'


def test_every_event_type_has_its_own_message_id() -> None:
    assert set(MESSAGE_IDS) == set(EventType)
    assert len(set(MESSAGE_IDS.values())) == len(EventType)
    assert all(re.fullmatch(r"[0-9a-f]{32}", mid) for mid in MESSAGE_IDS.values())


def test_slave_down_and_up_are_if_mib_link_traps() -> None:
    down = Event(EventType.SLAVE_DOWN, "bond0", slave="vf0", details={"ifindex": 7})
    oid, varbinds = notification_varbinds(down)
    assert oid == LINK_DOWN == "1.3.6.1.6.3.1.1.5.3"
    assert plain(varbinds) == [
        ("1.3.6.1.2.1.2.2.1.1.7", 7), ("1.3.6.1.2.1.2.2.1.7.7", 1), ("1.3.6.1.2.1.2.2.1.8.7", 2),
        ("1.3.6.1.2.1.31.1.1.1.1.7", "vf0")]
    oid, varbinds = notification_varbinds(Event(EventType.SLAVE_UP, "bond0", slave="lo"))
    assert oid == LINK_UP and varbinds[0][0] == "1.3.6.1.2.1.2.2.1.1.1"  # lo's ifindex, looked up
    assert int(varbinds[2][1]) == 1


def test_every_other_event_type_has_a_vfbond_notification() -> None:
    others = set(EventType) - {EventType.SLAVE_DOWN, EventType.SLAVE_UP}
    assert set(NOTIFICATIONS) == others
    assert len(set(NOTIFICATIONS.values())) == len(others)
    oid, varbinds = notification_varbinds(FAILOVER)
    assert oid == f"{SNMP_ROOT}.0.1"
    assert plain(varbinds) == [
        (f"{SNMP_ROOT}.1.1.0", "bond0"), (f"{SNMP_ROOT}.1.2.0", "vf0"), (f"{SNMP_ROOT}.1.3.0", "vf0"),
        (f"{SNMP_ROOT}.1.4.0", "vf1"), (f"{SNMP_ROOT}.1.5.0", "carrier lost"), (f"{SNMP_ROOT}.1.6.0", 4)]


def test_flap_summary_carries_the_suppressed_count() -> None:
    _, varbinds = notification_varbinds(Event(EventType.FLAP_SUMMARY, "bond0", slave="vf0",
                                              details={"suppressed": 12}))
    assert varbinds[-1][0] == f"{SNMP_ROOT}.1.7.0" and int(varbinds[-1][1]) == 12


def test_recovered_carries_the_outage_in_ms() -> None:
    oid, varbinds = notification_varbinds(Event(EventType.RECOVERED, "bond0", slave="enp1s0v0",
                                                details={"outage_ms": 5123}))
    assert oid == f"{SNMP_ROOT}.0.14"
    assert varbinds[-1][0] == f"{SNMP_ROOT}.1.8.0" and int(varbinds[-1][1]) == 5123


def test_a_link_trap_for_a_vanished_interface_without_ifindex_is_a_permanent_failure() -> None:
    """Retrying cannot bring the interface back: the queue must drop the trap, not retry it forever
    with every later trap queued behind it."""
    from vfbond.sinks.base import TRANSIENT

    event = Event(EventType.SLAVE_DOWN, "bond0", slave="vf-gone-0", reason="path failure")
    with pytest.raises(Exception) as caught:
        notification_varbinds(event)
    assert not isinstance(caught.value, TRANSIENT)
    assert "vf-gone-0" in str(caught.value)
