"""What both systemd-lab modules share: cloud-init run against a NoCloud seed as a VM's boot would, and
vfbondd.service as systemd and its journal show it."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import run

ROOT = Path(__file__).resolve().parents[3]
USER_DATA = ROOT / "cloud-init" / "user-data.yaml"
CONFIG = Path("/etc/vfbond/vfbond.yaml")
UNIT = "vfbondd.service"
SEED = Path("/var/lib/cloud/seed/nocloud")
# Guest-only (the /etc overlay): NoCloud from the seed dir; cloud-init must not touch the lab's
# network, and only the modules day0 uses run (the rest would generate SSH keys, locales... under
# emulation for nothing). runcmd moves to the final stage, so two stages consume the whole
# user-data: init (boothooks, write_files) and final (runcmd's script run by scripts_user), after the local
# stage that finds the datasource.
CLOUD_CFG = """\
datasource_list: [NoCloud]
network: {config: disabled}
cloud_init_modules: [write_files]
cloud_config_modules: []
cloud_final_modules: [runcmd, scripts_user, final_message]
"""
# The clean environment cloud-init gets from its systemd units, not the lab venv's PATH (whose python3.11 lives under
# /root, which the unit's ProtectHome=yes hides).
CLOUD_INIT_ENV = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                  "LANG=C.UTF-8"]


def show(*props: str) -> dict[str, str]:
    out = run(["systemctl", "show", UNIT, *(f"--property={p}" for p in props)]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def show_unit(unit: str, prop: str) -> str:
    return run(["systemctl", "show", unit, f"--property={prop}", "--value"]).stdout.strip()


def journal_events(since: float) -> list[dict[str, Any]]:
    """vfbondd's events in this boot's journal since `since` (epoch seconds): native entries from the
    journald sink, or the stdout sink's JSON lines; both carry EVENT_TYPE, OLD_ACTIVE, REASON..."""
    out = run(["journalctl", "-b", "-u", UNIT, "-o", "json", "--no-pager"]).stdout
    events = []
    for line in out.splitlines():
        entry = json.loads(line)
        if int(entry["__REALTIME_TIMESTAMP"]) / 1e6 < since:
            continue
        message = entry.get("MESSAGE")
        if "EVENT_TYPE" not in entry and isinstance(message, str) and message.startswith("{"):
            entry.update(json.loads(message))
        if "EVENT_TYPE" in entry:
            events.append(entry)
    return events


def unit_report() -> str:
    status = run(["systemctl", "status", "--no-pager", "-l", UNIT], check=False).stdout
    journal = run(["journalctl", "-b", "-u", UNIT, "--no-pager", "-n", "60"], check=False).stdout
    return f"--- systemctl status ---\n{status}\n--- journal ---\n{journal}"


def active_slave() -> str:
    return Path("/sys/class/net/bond0/bonding/active_slave").read_text().strip()


def first_boot(user_data: str, instance_id: str, after_init: Callable[[], None] = lambda: None) -> None:
    """cloud-init's init and final stages for a new instance with this user-data, as at a VM's first
    boot; `after_init` looks at the VM between them (what boothooks did)."""
    SEED.mkdir(parents=True, exist_ok=True)
    (SEED / "user-data").write_text(user_data)
    (SEED / "meta-data").write_text(f"instance-id: {instance_id}\nlocal-hostname: vfbond-lab\n")
    Path("/etc/cloud/cloud.cfg.d/99-vfbond-lab.cfg").write_text(CLOUD_CFG)
    # ds-identify ran at boot without a seed and left its verdict here; let cloud-init look again.
    shutil.rmtree("/run/cloud-init", ignore_errors=True)
    # As at boot: the local stage finds the datasource and decides whether this is a new instance (the
    # network stage trusts a cached one), then the network stage runs the boothooks, the final stage runcmd.
    for stage in (["init", "--local"], ["init"], ["modules", "--mode", "final"]):
        if stage[0] == "modules":
            after_init()
        t0 = time.monotonic()
        done = run([*CLOUD_INIT_ENV, "cloud-init", *stage], check=False, timeout=900)
        print(f"cloud-init {' '.join(stage)}: exit {done.returncode} in {time.monotonic() - t0:.1f}s")
        assert done.returncode == 0, (f"cloud-init {' '.join(stage)} failed\n{done.stdout}\n{done.stderr}\n"
                                      + Path("/var/log/cloud-init-output.log").read_text(errors="replace")[-4000:])
