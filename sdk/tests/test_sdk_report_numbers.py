"""Tables round to what the measurement supports (W to 0.1, J and Wh to 4 significant digits,
durations to the ms, times to the second); the JSON keeps every digit. `energylab report` exits
3 for a run without samples unless --allow-empty."""

from __future__ import annotations

import json

import pytest
from energylab_sdk import _reports, cli, report_format


def figures(**overrides: object) -> dict:
    base = {
        "duration_s": 20.123456,
        "energy_j": 21000.5432,
        "energy_wh": 5.833484222,
        "mean_w": 1043.5612,
        "peak_w": 1100.04999,
        "sample_count": 40,
        "coverage": 1.0,
        "largest_gap_s": 1.0234567,
        "method": "trapezoid",
        "warnings": [],
    }
    return {**base, **overrides}


def report(**total: object) -> dict:
    return {
        "run": {
            "id": 7,
            "pod": "pod",
            "scenario": "s",
            "started_at": "2026-11-25T10:00:00.123456Z",
            "ended_at": "2026-11-25T10:00:20.246912Z",
            "abandoned": False,
        },
        "steps": [{"name": "boot", **figures(), "servers": [{"server": "n1", **figures()}]}],
        "total": {**figures(**total), "servers": []},
        "warnings": [],
    }


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (21000.5432, "21000"),
        (7600.1, "7600"),
        (5.833484222, "5.833"),
        (0.00123456, "0.001235"),
        (123456.0, "123500"),
        (-72.3456, "-72.35"),
        (0.0, "0"),
        (None, "-"),
    ],
)
def test_energy_is_shown_to_four_significant_digits(value, shown) -> None:
    assert report_format.significant(value) == shown


def test_the_table_rounds_and_the_json_keeps_every_digit() -> None:
    table = report_format.render([report()], None, "table", one_run=True)
    assert "2026-11-25 10:00:00 UTC → 2026-11-25 10:00:20 UTC" in table
    for shown in ("20.123", "21000", "5.833", "1043.6", "1100.0", "1.023"):
        assert shown in table
    for hidden in ("21000.5", "5.833484", "1043.56", "20.1234"):
        assert hidden not in table
    data = json.loads(report_format.render([report()], None, "json", one_run=True))
    assert data["total"]["energy_wh"] == 5.833484222


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch):
    def serve(answer: dict) -> None:
        monkeypatch.setattr(_reports, "fetch", lambda *args, **kwargs: ([answer], None))

    return serve


def test_a_run_without_samples_exits_3_and_says_so(served, capsys) -> None:
    served(report(sample_count=0, energy_j=None, energy_wh=None))
    assert cli.main(["report", "--run", "7", "--url", "http://127.0.0.1:9"]) == cli.EXIT_NO_DATA
    assert "run(s) 7 have no samples" in capsys.readouterr().err


def test_allow_empty_accepts_a_run_without_samples(served) -> None:
    served(report(sample_count=0, energy_j=None, energy_wh=None))
    assert cli.main(["report", "--run", "7", "--url", "http://127.0.0.1:9", "--allow-empty"]) == 0


def test_a_run_with_samples_exits_0(served) -> None:
    served(report())
    assert cli.main(["report", "--run", "7", "--url", "http://127.0.0.1:9"]) == 0
