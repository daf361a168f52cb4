"""A server fed by several outlets: the table and the CSV give each outlet's share and energy
after the server's row, per step and in total; reports without parts print as before."""

from __future__ import annotations

import csv
import io

from energylab_sdk import report_format


def figures(energy_j: float) -> dict:
    return {
        "duration_s": 10.0,
        "energy_j": energy_j,
        "energy_wh": energy_j / 3600,
        "mean_w": energy_j / 10,
        "peak_w": 400.0,
        "sample_count": 10,
        "coverage": 1.0,
        "largest_gap_s": 1.0,
        "method": "trapezoid",
        "warnings": [],
    }


def parts(energy_j: float, share_a: float) -> list[dict]:
    return [
        {
            "name": name,
            "share": share,
            "energy_j": share * energy_j,
            "energy_wh": share * energy_j / 3600,
            "mean_w": share * energy_j / 10,
        }
        for name, share in (("apc#1", share_a), ("apc#2", 1 - share_a))
    ]


def report(with_parts: bool = True) -> dict:
    node = {"server": "node", **figures(3000.0), "parts": parts(3000.0, 0.25) if with_parts else []}
    return {
        "run": {"id": 7, "pod": "pod", "scenario": "s", "started_at": "", "ended_at": ""},
        "steps": [{"name": "load", **figures(3000.0), "servers": [node]}],
        "total": {**figures(3000.0), "servers": [node]},
        "warnings": [],
    }


def test_the_table_has_a_row_per_outlet_with_its_share_and_energy() -> None:
    lines = report_format.as_table(report()).splitlines()

    assert lines[1].split()[:4] == ["Step", "Server", "Part", "Duration"]
    outlet_rows = [line.split() for line in lines if "apc#" in line]
    assert [row[:3] for row in outlet_rows] == [
        ["load", "node", "apc#1"],
        ["load", "node", "apc#2"],
        ["TOTAL", "node", "apc#1"],
        ["TOTAL", "node", "apc#2"],
    ]
    assert "25.0 %" in " ".join(outlet_rows[0])
    assert "750.0" in outlet_rows[0]  # its share of the server's 3,000 J


def test_a_report_without_parts_prints_without_their_columns() -> None:
    table = report_format.as_table(report(with_parts=False))
    assert "Part" not in table
    assert "Share" not in table


def test_the_csv_puts_part_and_share_last_on_every_row() -> None:
    got = list(csv.DictReader(io.StringIO(report_format.as_csv([report()]))))
    assert list(got[0])[-2:] == ["part", "share"]
    assert [
        (r["step"], r["server"], r["part"], r["share"], r["energy_j"]) for r in got if r["part"]
    ] == [
        ("load", "node", "apc#1", "0.25", "750.0"),
        ("load", "node", "apc#2", "0.75", "2250.0"),
        ("TOTAL", "node", "apc#1", "0.25", "750.0"),
        ("TOTAL", "node", "apc#2", "0.75", "2250.0"),
    ]
    plain = list(csv.DictReader(io.StringIO(report_format.as_csv([report(with_parts=False)]))))
    assert list(plain[0])[-2:] == ["part", "share"]
    assert not any(r["part"] for r in plain)
