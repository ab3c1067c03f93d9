from vfbond.judge.policy import Decision, decide


def test_healthy_active_stays() -> None:
    assert decide("vf0", {"vf0": "up", "vf1": "up"}, "vf0", "always") == Decision()


def test_carrier_loss_fails_over_to_healthy_backup() -> None:
    d = decide("vf0", {"vf0": "down", "vf1": "up"}, "vf0", "always")
    assert d.switch_to == "vf1" and "carrier loss on vf0" in d.reason


def test_path_failure_fails_over() -> None:
    d = decide("vf0", {"vf0": "path_down", "vf1": "up"}, None, "failure")
    assert d.switch_to == "vf1" and "path failure" in d.reason


def test_never_onto_a_known_bad_backup_and_isolated_when_both_bad() -> None:
    d = decide("vf0", {"vf0": "path_down", "vf1": "path_down"}, "vf0", "always")
    assert d.switch_to is None and d.isolated


def test_backup_unknown_means_no_switch_but_not_isolated() -> None:
    d = decide("vf0", {"vf0": "down", "vf1": "unknown"}, "vf0", "always")
    assert d == Decision(reason=d.reason) and not d.isolated


def test_failback_only_with_always() -> None:
    verdicts = {"vf0": "up", "vf1": "up"}
    assert decide("vf1", verdicts, "vf0", "always").switch_to == "vf0"
    assert decide("vf1", verdicts, "vf0", "failure").switch_to is None
    assert decide("vf1", verdicts, "vf0", "better").switch_to is None


def test_no_failback_onto_bad_primary() -> None:
    assert decide("vf1", {"vf0": "path_down", "vf1": "up"}, "vf0", "always").switch_to is None


def test_missing_active_prefers_primary() -> None:
    d = decide(None, {"vf0": "up", "vf1": "up"}, "vf1", "failure")
    assert d.switch_to == "vf1"


def test_no_failback_onto_a_primary_still_within_updelay() -> None:
    """updelay: the primary must stay up that long before traffic goes back to it (its carrier may
    blip again), also when the blip was shorter than miimon and the kernel never saw it."""
    verdicts = {"vf0": "up", "vf1": "up"}
    assert decide("vf1", verdicts, "vf0", "always", settling=frozenset({"vf0"})).switch_to is None
    assert decide("vf1", verdicts, "vf0", "always", settling=frozenset()).switch_to == "vf0"


def test_failover_prefers_a_settled_backup_but_takes_a_settling_one_when_none_is_left() -> None:
    """As the kernel (mode-1-recovery-updelay.sh): with no other slave up, one coming up is used at once."""
    verdicts = {"vf0": "down", "vf1": "up", "vf2": "up"}
    assert decide("vf0", verdicts, None, "always", settling=frozenset({"vf1"})).switch_to == "vf2"
    only = {"vf0": "down", "vf1": "up"}
    assert decide("vf0", only, "vf0", "always", settling=frozenset({"vf1"})).switch_to == "vf1"


# The standby (a paravirtual port, "pv0"): active only while no VF is usable, left as soon as one qualifies.
def test_the_standby_is_never_chosen_while_a_vf_is_usable() -> None:
    d = decide("vf0", {"vf0": "down", "vf1": "up", "pv0": "up"}, None, "failure", standby="pv0")
    assert d.switch_to == "vf1"
    # ... not even a VF still within updelay: it is usable, the standby is the last resort
    d = decide("vf0", {"vf0": "down", "vf1": "up", "pv0": "up"}, None, "failure", frozenset({"vf1"}), standby="pv0")
    assert d.switch_to == "vf1"


def test_the_standby_takes_over_when_no_vf_is_usable() -> None:
    for vf1 in ("down", "path_down", "missing", "unknown"):
        d = decide("vf0", {"vf0": "down", "vf1": vf1, "pv0": "up"}, "vf0", "always", standby="pv0")
        assert d.switch_to == "pv0" and "standby" in d.reason and not d.isolated, vf1
    d = decide(None, {"pv0": "up"}, "vf0", "always", standby="pv0")  # both VFs detached
    assert d.switch_to == "pv0"


def test_off_the_standby_as_soon_as_a_vf_qualifies_whatever_primary_reselect() -> None:
    for reselect in ("always", "better", "failure"):
        d = decide("pv0", {"vf1": "up", "pv0": "up"}, "vf0", reselect, standby="pv0")
        assert d.switch_to == "vf1" and "standby" in d.reason, reselect
    assert decide("pv0", {"vf0": "up", "vf1": "up", "pv0": "up"}, "vf0", "failure", standby="pv0").switch_to == "vf0"


def test_off_the_standby_waits_out_updelay() -> None:
    d = decide("pv0", {"vf0": "up", "pv0": "up"}, "vf0", "always", frozenset({"vf0"}), standby="pv0")
    assert d.switch_to is None


def test_a_dead_standby_with_no_vf_usable_is_isolation() -> None:
    d = decide("pv0", {"vf0": "missing", "vf1": "down", "pv0": "path_down"}, None, "always", standby="pv0")
    assert d.switch_to is None and d.isolated
