"""bondctl status as text: what the daemon's status reply shows."""

from __future__ import annotations

from vfbond.ctl.render import render_status

LINK = {"name": "bond0", "operstate": "UP", "mac": "fa:16:3e:00:00:01", "mtu": 1500}
BOND = {"link": LINK, "mode": "active-backup", "fail_over_mac": "active", "miimon": 100, "updelay": 0,
        "downdelay": 0, "primary": None, "primary_reselect": "always", "num_peer_notif": 1, "arp_interval": 0,
        "active_slave": None, "slaves": []}


def test_the_backend_and_the_networkmanager_version_behind_it_are_shown() -> None:
    daemon = {"backend": "auto: org.freedesktop.NetworkManager is on the system bus",
              "backend_version": "NetworkManager 1.52.1"}
    text = render_status({"bond": BOND, "source": "vfbondd", "daemon": daemon})
    assert "  backend auto: org.freedesktop.NetworkManager is on the system bus (NetworkManager 1.52.1)" in text
    netlink = render_status({"bond": BOND, "source": "vfbondd", "daemon": {"backend": "backend: netlink in the config",
                                                                           "backend_version": None}})
    assert "  backend: netlink in the config\n" in netlink + "\n"
    assert "backend" not in render_status({"bond": BOND, "source": "kernel (vfbondd not running)"})
