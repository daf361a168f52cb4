"""CI gating: does a scenario's step stay within its energy budget, and did a change make it
significantly costlier than its reference runs?

The statistics are the server's (``GET /api/v1/energy/change/``: Welch's t-test per step, its
``regression`` flag = significant and above the threshold); this module only reads them, adds
the budgets, and says per step whether it passes, for the exit code, JUnit and the markdown
summary. Budgets are J per run: ``--budget-j`` for the whole run, or a file (JSON, or YAML with
PyYAML installed) of per-scenario and per-step budgets::

    nightly:            # a scenario ("*": any scenario without its own entry)
      total: 50000      # J per run, the whole run
      steps:
        build: 20000    # J per run of this step
"""

from __future__ import annotations

import contextlib
import json
import statistics
from dataclasses import dataclass, field
from typing import Any

TOTAL = "TOTAL"
ANY_SCENARIO = "*"


class BudgetError(Exception):
    """The budgets file cannot be used; the message says why, for people."""


@dataclass
class Budgets:
    """J per run, by step name (``TOTAL``: the whole run)."""

    by_step: dict[str, float] = field(default_factory=dict)

    def of(self, step: str) -> float | None:
        return self.by_step.get(step)


def load_budgets(path: str, scenario: str) -> Budgets:
    """The budgets of ``scenario`` in a JSON or YAML file (its own entry, else ``"*"``).

    :raises BudgetError: unreadable, not JSON or YAML, or not the shape above.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise BudgetError(f"cannot read budgets file {path!r}: {exc.strerror or exc}") from None
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise BudgetError(f"{path}: expected a mapping of scenario names to budgets")
    entry = data.get(scenario, data.get(ANY_SCENARIO))
    if entry is None:
        return Budgets()
    where = f"{path}: scenario {scenario!r}"
    if not isinstance(entry, dict) or set(entry) - {"total", "steps"}:
        raise BudgetError(f"{where}: expected 'total' (J) and/or 'steps' (step name: J)")
    budgets = Budgets()
    if entry.get("total") is not None:
        budgets.by_step[TOTAL] = _joules(entry["total"], f"{where} total")
    steps = entry.get("steps") or {}
    if not isinstance(steps, dict):
        raise BudgetError(f"{where}: 'steps' must map step names to J")
    for name, value in steps.items():
        budgets.by_step[str(name)] = _joules(value, f"{where} step {name!r}")
    return budgets


def _parse(path: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # optional: the SDK has no dependency
    except ImportError:
        raise BudgetError(
            f"{path} is not JSON; YAML budgets need PyYAML (pip install pyyaml)"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BudgetError(f"{path} is neither JSON nor YAML: {exc}") from None


def _joules(value: Any, where: str) -> float:
    if isinstance(value, str):
        # PyYAML reads 2.5e3 (no dot) as a string, as YAML 1.1 says: take it as the number meant.
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise BudgetError(f"{where}: a budget is a positive number of J, not {value!r}")
    return float(value)


@dataclass
class StepVerdict:
    """One step (or ``TOTAL``) of the reported runs, as CI sees it."""

    name: str
    energy_j: float | None  # mean over the reported runs
    duration_s: float | None
    budget_j: float | None = None
    change: dict[str, Any] | None = None  # the server's row for this step, if compared
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.failures)


def evaluate(
    reports: list[dict[str, Any]],
    change: dict[str, Any] | None,
    budgets: Budgets,
    fail_on_regression: bool,
) -> list[StepVerdict]:
    """A verdict per step of the reported runs (in their order), then the whole run's."""
    energy: dict[str, list[float]] = {}
    duration: dict[str, list[float]] = {}
    for report in reports:
        for section in [*report["steps"], {**report["total"], "name": TOTAL}]:
            energy.setdefault(section["name"], [])
            duration.setdefault(section["name"], [])
            if section.get("energy_j") is not None:
                energy[section["name"]].append(section["energy_j"])
            if section.get("duration_s") is not None:
                duration[section["name"]].append(section["duration_s"])
    rows = {}
    if change:
        rows = {row["name"]: row for row in change["steps"]}
        if change.get("total"):
            rows[TOTAL] = change["total"]
    names = [n for n in energy if n != TOTAL] + [TOTAL]
    verdicts = []
    for name in names:
        verdict = StepVerdict(
            name,
            statistics.fmean(energy[name]) if energy[name] else None,
            statistics.fmean(duration[name]) if duration[name] else None,
            budgets.of(name),
            rows.get(name),
        )
        if verdict.budget_j is not None and (verdict.energy_j or 0.0) > verdict.budget_j:
            verdict.failures.append(
                f"over budget: {verdict.energy_j:.1f} J > {verdict.budget_j:g} J per run"
            )
        row = verdict.change
        if fail_on_regression and row and row.get("regression"):
            e = row["energy_j"]
            verdict.failures.append(
                f"regression: {e['difference_pct']:+.1f} % energy "
                f"(95 % CI {e['ci_low']:+.1f} to {e['ci_high']:+.1f} J, p = {e['p_value']:.3g}) "
                f"against {change['a']['set'] if change else ''}"
            )
        verdicts.append(verdict)
    return verdicts


def over_budget(verdicts: list[StepVerdict]) -> bool:
    return any(v.failures and v.failures[0].startswith("over budget") for v in verdicts)


def regressed(verdicts: list[StepVerdict]) -> bool:
    return any(f.startswith("regression") for v in verdicts for f in v.failures)
