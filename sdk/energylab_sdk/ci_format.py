"""Gating verdicts for CI servers: JUnit XML (one test case per step) and a markdown job summary.

The JUnit XML follows the Apache Ant JUnit schema that Jenkins, GitLab and GitHub test
reporters read (validated in the SDK's tests against its XSD).
"""

from __future__ import annotations

import datetime as dt
import socket
import xml.etree.ElementTree as ET
from typing import Any

from .gating import TOTAL, StepVerdict
from .report_format import significant


def _suite_name(reports: list[dict[str, Any]]) -> str:
    run = reports[-1]["run"]
    return f"energylab: {run['scenario']} on {run['pod']}"


def _energy_text(verdict: StepVerdict) -> str:
    return f"{significant(verdict.energy_j)} J" if verdict.energy_j is not None else "unknown"


def junit(reports: list[dict[str, Any]], verdicts: list[StepVerdict]) -> str:
    """A ``testsuite`` whose test cases are the steps (and ``TOTAL``), failing on a budget or a
    regression; each case's time is the step's mean duration."""
    run = reports[-1]["run"]
    suite = ET.Element(
        "testsuite",
        name=_suite_name(reports),
        # The schema's timestamp: local time of the CI host, no zone, to the second.
        timestamp=dt.datetime.now().strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname() or "localhost",
        tests=str(len(verdicts)),
        failures=str(sum(v.failed for v in verdicts)),
        errors="0",
        time=f"{sum(v.duration_s or 0.0 for v in verdicts if v.name != TOTAL):.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name in ("pod", "scenario", "commit", "branch", "ci_url"):
        if run.get(name):
            ET.SubElement(properties, "property", name=name, value=str(run[name]))
    ET.SubElement(
        properties, "property", name="runs", value=",".join(str(r["run"]["id"]) for r in reports)
    )
    for verdict in verdicts:
        case = ET.SubElement(
            suite,
            "testcase",
            name=verdict.name.strip() or "(unnamed step)",
            classname=(run["scenario"].strip() or "scenario"),
            time=f"{verdict.duration_s or 0.0:.3f}",
        )
        if verdict.failed:
            failure = ET.SubElement(
                case, "failure", message="; ".join(verdict.failures), type="energy"
            )
            failure.text = _case_text(verdict)
    out = ET.SubElement(suite, "system-out")
    out.text = "\n".join(f"{v.name}: {_case_text(v)}" for v in verdicts)
    ET.SubElement(suite, "system-err")
    if hasattr(ET, "indent"):  # Python 3.9+
        ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, "unicode") + "\n"


def _case_text(verdict: StepVerdict) -> str:
    parts = [f"energy {_energy_text(verdict)} per run"]
    if verdict.budget_j is not None:
        parts.append(f"budget {verdict.budget_j:g} J")
    energy = (verdict.change or {}).get("energy_j")
    if energy and energy.get("difference_pct") is not None:
        parts.append(f"{energy['difference_pct']:+.1f} % against the reference")
        if energy.get("p_value") is not None:
            parts.append(f"p = {energy['p_value']:.3g}")
    return ", ".join(parts + verdict.failures)


def _cell(text: str) -> str:
    # A step's name is free text: a | or a line break would break the table.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(
    reports: list[dict[str, Any]], verdicts: list[StepVerdict], change: dict[str, Any] | None
) -> str:
    """A job summary: one table row per step, with the comparison when there is one."""
    run = reports[-1]["run"]
    failed = [v for v in verdicts if v.failed]
    head = f"### Energy: {_cell(run['scenario'])} on {_cell(run['pod'])}"
    ids = ", ".join(f"{r['run']['id']}" for r in reports)
    lines = [
        head,
        "",
        f"Run(s) {ids}" + (f" at commit `{run['commit'][:12]}`" if run.get("commit") else ""),
    ]
    if change:
        lines[-1] += (
            f", against {_cell(change['a']['set'])} ({len(change['a']['runs'])} run(s)); "
            f"{change['test']}, alpha = {change['alpha']:g}, threshold {change['threshold_pct']:g} %"
        )
    lines += [
        "",
        "| Step | Energy J | Budget J | Reference J | Difference | 95 % CI J | p | Effect size | Result |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for v in verdicts:
        e = (v.change or {}).get("energy_j") or {}
        reference = (e.get("a") or {}).get("mean")
        pct = e.get("difference_pct")
        ci = (
            f"{e['ci_low']:+.1f} to {e['ci_high']:+.1f}"
            if e.get("ci_low") is not None and e.get("ci_high") is not None
            else "-"
        )
        result = "❌ " + "; ".join(f.split(":")[0] for f in v.failures) if v.failed else "✅"
        name = f"**{v.name}**" if v.name == TOTAL else _cell(v.name)
        lines.append(
            f"| {name} | {significant(v.energy_j)} | "
            f"{'-' if v.budget_j is None else f'{v.budget_j:g}'} | {significant(reference)} | "
            f"{'-' if pct is None else f'{pct:+.1f} %'} | {ci} | "
            f"{'-' if e.get('p_value') is None else format(e['p_value'], '.3g')} | "
            f"{'-' if e.get('effect_size') is None else format(e['effect_size'], '.2f')} | "
            f"{result} |"
        )
    lines += ["", f"**{len(failed)} of {len(verdicts)} failed.**" if failed else "All passed."]
    return "\n".join(lines) + "\n"
