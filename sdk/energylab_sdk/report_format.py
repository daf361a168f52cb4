"""Energy reports as text: a table for people, CSV for spreadsheets (the JSON is the report).

Reports are the server's JSON (docs/reports.md: a stable shape); this module only lays them
out, so ``energylab report`` on a CI host and ``manage.py energy_report`` on the server print
the same table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from typing import Any

COLUMNS = [
    ("step", "Step"),
    ("server", "Server"),
    ("duration_s", "Duration s"),
    ("energy_j", "Energy J"),
    ("energy_j_low", "Low J"),  # the range the true energy lies in (docs/reports.md)
    ("energy_j_high", "High J"),
    ("energy_wh", "Energy Wh"),
    ("mean_w", "Mean W"),
    ("peak_w", "Peak W"),
    ("sample_count", "Samples"),
    ("coverage", "Coverage"),
    ("largest_gap_s", "Gap s"),
    ("method", "Method"),
    ("warnings", "Warnings"),
]


# A server fed by several outlets (PDU) has a row per outlet after its own: the outlet's share
# of the server's energy, and that share of it (docs/reports.md, "parts").
PART_COLUMNS = [("part", "Part"), ("share", "Share")]


def rows(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per step and server, a row per step for all servers, and the run's total;
    after a server fed by several outlets, a row per outlet (in the total too)."""
    for step in report["steps"]:
        yield {**step, "step": step["name"], "server": "all"}
        for server in step["servers"]:
            yield {**server, "step": step["name"]}
            yield from _part_rows(step["name"], server)
    yield {**report["total"], "step": "TOTAL", "server": "all"}
    for server in report["total"].get("servers", []):
        yield from _part_rows("TOTAL", server)


def _part_rows(step: str, server: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # .get: reports of servers older than the parts have none
    for part in server.get("parts") or []:
        yield {
            "step": step,
            "server": server["server"],
            "part": part["name"],
            "share": part["share"],
            "energy_j": part["energy_j"],
            "energy_wh": part["energy_wh"],
            "mean_w": part["mean_w"],
        }


def _columns(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's columns: the part and its share only when a server has parts."""
    if not any("part" in row for row in rows(report)):
        return COLUMNS
    keys = [key for key, _ in COLUMNS]
    at_server, at_wh = keys.index("server") + 1, keys.index("energy_wh") + 1
    return [
        *COLUMNS[:at_server],
        PART_COLUMNS[0],
        *COLUMNS[at_server:at_wh],
        PART_COLUMNS[1],
        *COLUMNS[at_wh:],
    ]


# -- numbers for people ------------------------------------------------------------------------
# Tables and pages show what the measurement supports; the JSON keeps every digit. A BMC reads
# power to about a watt, so a tenth of a watt is already generous; energy is a sum of such
# readings over time, good to about 4 significant digits; durations come from event times, to
# the millisecond.


def watts(value: float | None) -> str:
    """Power to 0.1 W (``"-"`` when unknown)."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f}"


def significant(value: float | None, digits: int = 4) -> str:
    """Energy (J, Wh) to ``digits`` significant digits, without an exponent: 21000.5 J is
    ``21000``, 2.111139 Wh is ``2.111``, 0.00123456 Wh is ``0.001235``."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, decimals)
    return f"{rounded:.{max(0, decimals)}f}"


def percent(value: float | None) -> str:
    """A share (0..1) as a percentage to 0.1 %: coverage, an outlet's share."""
    return "-" if value is None or not math.isfinite(value) else f"{value * 100:.1f} %"


def seconds(value: float | None) -> str:
    """A duration to the millisecond."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def moment(rfc3339: str | None) -> str:
    """An RFC 3339 time of the JSON to the second, for a heading: ``2026-11-25 10:00:00 UTC``."""
    if not rfc3339:
        return "running"
    day, _, clock = rfc3339.partition("T")
    return f"{day} {clock[:8]} UTC" if clock else rfc3339


def _cell(key: str, value: Any) -> str:
    # By the key's unit, so that a figure added to the report (energy_j_low, ...) reads right.
    if value is None:
        return "-"
    if key in ("coverage", "share"):
        return percent(value)
    if key == "warnings":
        return "; ".join(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if key.startswith("energy_") or key.endswith(("_j", "_wh")):
        return significant(value)
    if key.endswith("_w"):
        return watts(value)
    if key.endswith("_s"):
        return seconds(value)
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def as_table(report: dict[str, Any]) -> str:
    run = report["run"]
    head = (
        f"Run {run['id']}: {run['scenario']} on {run['pod']}, "
        f"{moment(run['started_at'])} → {moment(run['ended_at'])}"
        + (" (abandoned: closed at its last event)" if run.get("abandoned") else "")
    )
    columns = _columns(report)
    table = [[title for _key, title in columns]]
    table += [[_cell(key, row.get(key)) for key, _title in columns] for row in rows(report)]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns) - 1)]
    lines = [head]
    origin = provenance_line(run)
    if origin:
        lines.append(origin)
    for index, row in enumerate(table):
        # (Python 3.8: no zip(strict=), which the linter asks for)
        cells = [row[i].ljust(width) for i, width in enumerate(widths)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in [*widths, len(row[-1])]))
    for warning in report["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def provenance_line(run: dict[str, Any]) -> str:
    """``commit 3f786850e387 on main, github build 17: <job URL>, labels vnf=vFW``, as far as
    the run's provenance is known ("" when none is: a legacy client's run, an older server)."""
    parts = []
    if run.get("commit"):
        parts.append(f"commit {run['commit'][:12]}")
    if run.get("branch"):
        parts.append(f"on {run['branch']}")
    origin = " ".join(parts)
    build = " ".join(
        str(part)
        for part in (run.get("ci_system"), "build" if run.get("build") else "", run.get("build"))
        if part
    )
    for extra in (build, run.get("ci_url")):
        if extra:
            origin = f"{origin}, {extra}" if origin else str(extra)
    labels = run.get("labels") or {}
    if labels:
        listed = " ".join(f"{name}={value}" for name, value in labels.items())
        origin = f"{origin}, labels {listed}" if origin else f"labels {listed}"
    return origin


def as_csv(reports: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    # The part's columns last, whether or not a server has parts: the columns before them
    # keep their places.
    columns = COLUMNS + PART_COLUMNS
    writer.writerow(["run", "pod", "scenario"] + [key for key, _ in columns])
    for report in reports:
        run = report["run"]
        for row in rows(report):
            writer.writerow(
                [run["id"], run["pod"], run["scenario"]]
                + [
                    "; ".join(row.get(key) or []) if key == "warnings" else row.get(key)
                    for key, _ in columns
                ]
            )
    return out.getvalue()


def comparison_table(comparison: dict[str, Any]) -> str:
    lines = ["Run     Started                  Energy J      Duration s  Coverage  Flag"]
    for row in comparison["runs"]:
        flag = "REGRESSION" if row["regression"] else ""
        lines.append(
            f"{row['run']['id']:<7} {moment(row['run']['started_at']):<24} "
            f"{significant(row['energy_j']):>12}  {seconds(row['duration_s']):>10}  "
            f"{row['coverage'] * 100:>6.1f} %  {flag}"
        )
    e = comparison["energy"]
    if e["runs"]:
        lines.append(
            f"mean {significant(e['mean_j'])} J, stdev {significant(e['stdev_j'])} J, "
            f"min {significant(e['min_j'])} J, max {significant(e['max_j'])} J "
            f"over {e['runs']} run(s)"
        )
    return "\n".join(lines)


def render(
    reports: list[dict[str, Any]], comparison: dict[str, Any] | None, fmt: str, one_run: bool
) -> str:
    """The reports as ``table``, ``csv`` or ``json`` (one run: its report; else the runs and
    their comparison), as ``manage.py energy_report`` and ``energylab report`` print them."""
    if fmt == "json":
        payload: Any = reports[0] if one_run else {"runs": reports, "comparison": comparison}
        return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return as_csv(reports)
    text = "\n\n".join(as_table(r) for r in reports)
    if comparison:
        text += "\n" + comparison_table(comparison)
    return text + "\n"
