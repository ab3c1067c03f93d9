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


def standby(on: bool, migration: bool = False, detached: tuple[str, ...] = ()) -> dict:
    return {"label": "standby", "ifname": "pvio0", "role": "standby", "on_standby": on,
            "on_standby_s": 42.4 if on else None, "on_standby_total_s": 95.0, "detached": list(detached),
            "migration": migration}


def test_the_standby_shows_whether_it_carries_the_vm_and_why_and_the_vfs_not_back() -> None:
    def text(sb: dict | None, missing: list[str] = ()) -> str:  # type: ignore[assignment]
        return render_status({"bond": BOND, "source": "vfbondd", "standby": sb, "vfs_not_returned": list(missing)})

    assert "standby" not in text(None)
    assert "\nstandby standby (pvio0): standing by; 95 s on it since vfbondd started" in text(standby(False))
    during = text(standby(True, migration=True, detached=("sriov0", "sriov1")), ["fa:16:3e:00:01:01"])
    assert "standby standby (pvio0): CARRYING THE VM for 42 s: both VFs detached (a live migration?)" in during
    assert "ALERT: VFs not back after the migration: fa:16:3e:00:01:01" in during
    assert "CARRYING THE VM for 42 s: no VF usable" in text(standby(True))
    # without vfbondd (the kernel's reading) there is no standby account to show
    assert "standby" not in render_status({"bond": BOND, "source": "kernel (vfbondd not running)",
                                           "standby": standby(True)})
