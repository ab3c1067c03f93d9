"""bondctl pause: durations an operator types, and what status says while paused."""

import argparse
import time

import pytest

from vfbond.ctl.bondctl import _duration, parser
from vfbond.ctl.render import _reconcile_lines


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200)])
def test_durations(text: str, seconds: float) -> None:
    assert _duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5m", "8d", "soon", "1e999"])
def test_bad_durations_name_the_fix(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="90s, 15m or 2h|at most 7 days"):
        _duration(text)


def test_pause_needs_a_reason() -> None:
    with pytest.raises(SystemExit):
        parser("pause").parse_args(["pause"])
    args = parser("pause").parse_args(["pause", "--reason", "CHG-42", "--for", "15m"])
    assert (args.reason, args.seconds) == ("CHG-42", 900)


def test_status_says_paused_and_what_drifted_meanwhile() -> None:
    lines = _reconcile_lines({"paused": {"reason": "CHG-42", "since": time.time() - 60, "until": None},
                              "drift_while_paused": "bond0: miimon 1000 -> 5000"})
    assert lines[0].startswith("PAUSED") and "CHG-42" in lines[0] and "`bondctl resume`" in lines[0]
    assert lines[1] == "  drift seen meanwhile: bond0: miimon 1000 -> 5000"
