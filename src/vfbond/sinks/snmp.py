"""SNMP notifications (v2c or v3, trap or inform) with pysnmp's asyncio API.

slave_down/slave_up go out as the standard IF-MIB linkDown/linkUp, which every NMS understands;
all other events as notifications of mib/VFBOND-MIB.txt. OIDs are numeric here so that sending
needs no compiled MIB; the host tests check them against the MIB through snmptrapd.

For linkDown/linkUp the daemon should put the slave's ifindex in event.details["ifindex"] (it
has it from netlink, and the interface may be gone by the time a queued trap goes out); the
name is looked up only as a fallback. details may also carry "admin_status" and "oper_status"
as IF-MIB numbers (up(1), down(2), ...).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC192_SHA256,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB256_AES_BLUMENTHAL,
    CommunityData,
    ContextData,
    Integer32,
    NotificationType,
    ObjectIdentity,
    ObjectType,
    OctetString,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    Unsigned32,
    UsmUserData,
    send_notification,
)

from vfbond.config import SnmpTarget
from vfbond.mib import SNMP_ROOT
from vfbond.redact import scrub
from vfbond.shared.events import Event, EventType
from vfbond.sinks.base import SinkUnavailable

# IF-MIB (RFC 2863)
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_ADMIN_STATUS = "1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_UP, IF_DOWN = 1, 2

NOTIFICATIONS: dict[EventType, int] = {  # vfbondNotifications (SNMP_ROOT.0) members
    EventType.FAILOVER: 1,
    EventType.FAILBACK: 2,
    EventType.BOND_ISOLATED: 3,
    EventType.BOND_DEGRADED: 4,
    EventType.BOND_RESTORED: 5,
    EventType.SLAVE_MISSING: 6,
    EventType.SLAVE_RETURNED: 7,
    EventType.MAC_CHANGED: 8,
    EventType.FLAP_SUMMARY: 9,
    EventType.WARNING: 10,
    EventType.DAEMON: 11,
    EventType.KERNEL_MESSAGE: 12,
    EventType.PF_RESET: 13,
    EventType.RECOVERED: 14,
    EventType.RECOVERY_ATTEMPT: 15,
    EventType.FAILOVER_VERIFIED: 16,
    EventType.FAILOVER_UNVERIFIED: 17,
    EventType.PEERS_NOT_NOTIFIED: 18,
    EventType.CONVERGED: 19,
    EventType.PAUSED: 20,
    EventType.RESUMED: 21,
    EventType.ON_STANDBY: 22,
    EventType.OFF_STANDBY: 23,
    EventType.MIGRATION_DETACHED: 24,
    EventType.MIGRATION_ATTACHED: 25,
    EventType.VFS_NOT_RETURNED: 26,
}
# vfbondObjects
OBJ_BOND, OBJ_SLAVE, OBJ_OLD, OBJ_NEW, OBJ_REASON, OBJ_SEVERITY, OBJ_SUPPRESSED, OBJ_OUTAGE, OBJ_REPLY = range(1, 10)

AUTH_PROTOCOLS = {"sha": USM_AUTH_HMAC96_SHA, "sha256": USM_AUTH_HMAC192_SHA256, "md5": USM_AUTH_HMAC96_MD5}
# aes256 is the Blumenthal draft key extension, what Net-SNMP calls AES256 (Cisco's is AES256C).
PRIV_PROTOCOLS = {"aes": USM_PRIV_CFB128_AES, "aes256": USM_PRIV_CFB256_AES_BLUMENTHAL, "des": USM_PRIV_CBC56_DES}

VarBinds = list[tuple[str, Any]]


def notification_varbinds(event: Event) -> tuple[str, VarBinds]:
    """The notification OID and its variable bindings (OID, value) for the event."""
    if event.type in (EventType.SLAVE_DOWN, EventType.SLAVE_UP):
        return _link_varbinds(event)
    obj = f"{SNMP_ROOT}.1"
    varbinds: VarBinds = [
        (f"{obj}.{OBJ_BOND}.0", OctetString(event.bond)),
        (f"{obj}.{OBJ_SLAVE}.0", OctetString(event.slave or "")),
        (f"{obj}.{OBJ_OLD}.0", OctetString(event.old_active or "")),
        (f"{obj}.{OBJ_NEW}.0", OctetString(event.new_active or "")),
        (f"{obj}.{OBJ_REASON}.0", OctetString(event.reason[:255])),  # DisplayString's limit
        (f"{obj}.{OBJ_SEVERITY}.0", Integer32(int(event.severity))),
    ]
    if event.type is EventType.FLAP_SUMMARY:
        varbinds.append((f"{obj}.{OBJ_SUPPRESSED}.0", Unsigned32(int(event.details.get("suppressed", 0)))))
    if event.type is EventType.RECOVERED:
        varbinds.append((f"{obj}.{OBJ_OUTAGE}.0", Unsigned32(int(event.details.get("outage_ms", 0)))))
    if event.type is EventType.FAILOVER_VERIFIED:
        varbinds.append((f"{obj}.{OBJ_REPLY}.0", Unsigned32(round(event.details.get("reply_ms", 0)))))
    return f"{SNMP_ROOT}.0.{NOTIFICATIONS[event.type]}", varbinds


def _link_varbinds(event: Event) -> tuple[str, VarBinds]:
    if not event.slave:
        raise ValueError(f"{event.type.value} event without a slave")
    up = event.type is EventType.SLAVE_UP
    index = event.details.get("ifindex")
    if not index:
        try:
            index = socket.if_nametoindex(event.slave)
        except OSError:
            # Not transient: a retry cannot bring the interface back, and would hold every later trap.
            raise LookupError(f"{event.type.value} for {event.slave}: no ifindex in the event and no such "
                              "interface any more") from None
    index = int(index)
    return (LINK_UP if up else LINK_DOWN), [
        (f"{IF_INDEX}.{index}", Integer32(index)),
        (f"{IF_ADMIN_STATUS}.{index}", Integer32(int(event.details.get("admin_status", IF_UP)))),
        (f"{IF_OPER_STATUS}.{index}", Integer32(int(event.details.get("oper_status", IF_UP if up else IF_DOWN)))),
        (f"{IF_NAME}.{index}", OctetString(event.slave)),  # not required by IF-MIB; saves a lookup
    ]


def _auth(target: SnmpTarget) -> CommunityData | UsmUserData:
    if target.version == "2c":
        return CommunityData(target.community, mpModel=1)
    return UsmUserData(
        target.user, authKey=target.auth_key, privKey=target.priv_key,
        authProtocol=AUTH_PROTOCOLS[target.auth_protocol] if target.auth_key and target.auth_protocol else None,
        privProtocol=PRIV_PROTOCOLS[target.priv_protocol] if target.priv_key and target.priv_protocol else None)


class SnmpSink:
    """One trap receiver. Traps are unconfirmed; with inform: true a missing answer is retried."""

    def __init__(self, target: SnmpTarget, *, timeout: float = 2.0, retries: int = 1) -> None:
        self.target = target
        kind = "inform" if target.inform else "trap"
        self.name = f"snmp v{target.version} {kind} {target.host}:{target.port}"
        self._kind = kind
        self._auth = _auth(target)
        self._secrets = (target.community, target.auth_key, target.priv_key)  # kept out of error texts
        self._timeout = timeout
        self._retries = retries
        # v3 traps are sent with the local engine ID, which the receiver must know
        # (`createUser -e ID`), so it comes from the config instead of being random per start.
        engine_id = target.engine_id.removeprefix("0x") if target.engine_id else None
        self._engine = SnmpEngine(OctetString(hexValue=engine_id) if engine_id else None)

    async def send(self, event: Event) -> None:
        trap_oid, varbinds = notification_varbinds(event)
        notification = NotificationType(ObjectIdentity(trap_oid)).add_varbinds(
            *(ObjectType(ObjectIdentity(oid), value) for oid, value in varbinds))
        error, status, index, _ = await send_notification(
            self._engine, self._auth, await self._transport(), ContextData(), self._kind, notification)
        if error:  # an inform without answer, a USM failure, ...
            raise SinkUnavailable(scrub(str(error), self._secrets))
        if status:
            raise SinkUnavailable(f"receiver answered {status.prettyPrint()} at varbind {index}")

    async def _transport(self) -> UdpTransportTarget | Udp6TransportTarget:
        # Created per send so that a receiver's changed DNS name is followed.
        try:
            is_v6 = ipaddress.ip_address(self.target.host).version == 6
        except ValueError:
            is_v6 = False
        kind = Udp6TransportTarget if is_v6 else UdpTransportTarget
        try:
            return await kind.create((self.target.host, self.target.port), timeout=self._timeout,
                                     retries=self._retries)
        except PySnmpError as exc:  # the name did not resolve; DNS may be back later
            raise SinkUnavailable(scrub(str(exc), self._secrets)) from None

    async def close(self) -> None:
        self._engine.close_dispatcher()
