"""contrib/prometheus: promtool accepts the alerting rules and their unit tests pass; every alert is
tested firing and quiet, names only metrics vfbondd exports (its own series make the expressions
true), and links a runbook that README has."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.host.test_metrics_promtool import promtool
from tests.unit.test_metrics import B, render, samples, status
from tests.unit.test_snmp_view import with_standby

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "vfbond.rules.yml"
RULE_TESTS = ROOT / "contrib" / "prometheus" / "vfbond.rules.test.yml"
RUNBOOKS = "https://github.com/vfbond/vfbond/blob/main/README.md#"  # the one base every runbook_url shares
SEVERITIES = {"critical", "warning"}


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def run(*args: str) -> str:
    done = subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_check_rules_accepts_the_rules() -> None:
    assert f"SUCCESS: {len(alerts())} rules found" in run("check", "rules", RULES.name)


def test_promtool_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in run("test", "rules", RULE_TESTS.name)


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    names = {rule["alert"] for rule in alerts()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"


def test_every_alert_has_a_severity_a_summary_a_description_and_its_runbook() -> None:
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], name
        assert notes["runbook_url"] == RUNBOOKS + slug(f"Runbook: {name}"), name


def test_every_runbook_url_names_an_anchor_in_readme() -> None:
    anchors = readme_anchors((ROOT / "README.md").read_text())
    urls = [rule["annotations"]["runbook_url"] for rule in alerts()]
    missing = [url for url in urls if url.split("#")[1] not in anchors]
    assert not missing, f"README.md has no heading for {missing}"


def test_rules_name_only_metrics_vfbondd_exports() -> None:
    exported = {name for name, _ in samples(render(status(probes="enabled")))}
    named = set()
    for rule in alerts():
        patterns = re.findall(r'__name__=~"([^"]+)"', rule["expr"])  # vfbond_(failovers|failbacks)_total
        named |= {name for pattern in patterns for name in alternatives(pattern)}
        named |= set(re.findall(r"\bvfbond_\w+", re.sub(r'__name__=~"[^"]+"', "", rule["expr"])))
    assert named and named <= exported, f"not exported by vfbondd: {sorted(named - exported)}"


def alternatives(pattern: str) -> list[str]:
    """Every name a regex of literal text and (a|b) groups matches."""
    parts = re.split(r"\(([^()]*)\)", pattern)  # literal, group, literal, ...
    return ["".join(choice) for choice in product(*[p.split("|") if i % 2 else [p] for i, p in enumerate(parts)])]


@pytest.mark.parametrize(("alert", "case", "expected"), [
    ("VfbondOnBackup", "after a failover to sriov1", [f'vfbond_active{{bond="bond0",label="sriov1",slave="{B}"}}']),
    ("VfbondOnBackup", "on the primary", []),
    ("VfbondBondDegraded", "sriov1's path down", ['vfbond_bond_degraded{bond="bond0"}']),
    ("VfbondBondIsolated", "sriov1's path down", []),
    ("VfbondOnStandby", "on the standby for 10 minutes", [('vfbond_on_standby_seconds{bond="bond0"}', 600)]),
    ("VfbondOnStandby", "on the primary", []),
    # The VM is on the network over the standby: isolated said so here, and paged in every migration.
    ("VfbondBondIsolated", "on the standby for 10 minutes", []),
    ("VfbondVfsNotReturned", "a VF not back after a migration", ['vfbond_vfs_not_returned{bond="bond0"}']),
    ("VfbondVfsNotReturned", "on the primary", []),
])
def test_an_alerts_expression_over_the_series_vfbondd_exports(
        alert: str, case: str, expected: list[str | tuple[str, float]], tmp_path: Path) -> None:
    """promtool evaluates the rule over vfbondd's own exposition text, not hand-written series."""
    current = status()  # sriov0 active and healthy, sriov1 up with its path down
    if case.startswith("after a failover"):
        current["bond"] = {**current["bond"], "active_slave": B}
    if case.startswith("on the standby"):
        current |= with_standby(on=True)
        current["standby"]["on_standby_s"] = 600.0
    if case.startswith("a VF not back"):
        current["vfs_not_returned"] = ["fa:16:3e:00:00:02"]
    expr = next(rule["expr"] for rule in alerts() if rule["alert"] == alert)
    samples_wanted = [item if isinstance(item, tuple) else (item, 1) for item in expected]
    test = {"rule_files": [str(RULES)], "tests": [{
        "interval": "1m", "input_series": input_series(render(current)),
        "promql_expr_test": [{"expr": expr, "eval_time": "1m",
                              "exp_samples": [{"labels": labels, "value": v} for labels, v in samples_wanted]}]}]}
    (tmp_path / "exported.test.yml").write_text(yaml.safe_dump(test))
    run("test", "rules", str(tmp_path / "exported.test.yml"))


def input_series(text: str) -> list[dict[str, str]]:
    """Each sample of an exposition text as a promtool input series, its value held for 10 minutes."""
    return [{"series": s.name + "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(s.labels.items())) + "}",
             "values": f"{s.value!r}x10"}
            for family in text_string_to_metric_families(text) for s in family.samples]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def readme_anchors(text: str) -> set[str]:
    """Headings outside code blocks; a repeated slug gets GitHub's -1, -2 suffixes."""
    seen: Counter[str] = Counter()
    found = set()
    for block in re.split(r"^```.*$", text, flags=re.M)[::2]:
        for heading in re.findall(r"^#{1,6} (.+)$", block, flags=re.M):
            base = slug(heading)
            found.add(f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
    return found


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Runbook: VfbondBondDegraded", "runbook-vfbondbonddegraded"),
    ("Polling the bond with SNMP", "polling-the-bond-with-snmp"),
    ("Configuration (`/etc/vfbond/vfbond.yaml`)", "configuration-etcvfbondvfbondyaml"),
])
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def mib_runbooks() -> dict[str, str]:
    """VFBOND-MIB notification -> the README anchor its DESCRIPTION names."""
    mib = (ROOT / "mib" / "VFBOND-MIB.txt").read_text()
    blocks = re.findall(r"^(\w+) NOTIFICATION-TYPE$(.*?)::=", mib, flags=re.M | re.S)
    return {name: anchor for name, body in blocks for anchor in re.findall(r"README\.md#([\w-]+)", body)}


def test_the_mibs_notifications_name_runbooks_readme_has() -> None:
    named = mib_runbooks()
    anchors = readme_anchors((ROOT / "README.md").read_text())
    assert not {n: a for n, a in named.items() if a not in anchors}, "MIB names a runbook README does not have"
    # A trap whose condition an alert covers names that alert's runbook.
    for notification, alert in (("vfbondBondIsolated", "VfbondBondIsolated"),
                                ("vfbondBondDegraded", "VfbondBondDegraded"), ("vfbondFlapSummary", "VfbondFlapping"),
                                ("vfbondFailoverUnverified", "VfbondFailoverUnverified"),
                                ("vfbondPeersNotNotified", "VfbondPeersNotNotified"),
                                ("vfbondOnStandby", "VfbondOnStandby"),
                                ("vfbondVfsNotReturned", "VfbondVfsNotReturned")):
        assert named.get(notification) == slug(f"Runbook: {alert}"), notification
