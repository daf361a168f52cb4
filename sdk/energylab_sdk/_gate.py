"""The CI gate as ``energylab report`` and the pytest plugin run it: compare, judge, summarise."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import _reports, ci_format, gating
from ._config import Config

EXIT_REGRESSION = 4  # a step significantly and more than --threshold-pct costlier
EXIT_OVER_BUDGET = 5  # a step (or the run) above its budget
DEFAULT_THRESHOLD_PCT = 5.0


@dataclass
class GateOptions:
    compare_to: str | None = None
    fail_on_regression: bool = False
    threshold_pct: float = DEFAULT_THRESHOLD_PCT
    budget_j: float | None = None
    budgets_file: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.compare_to or self.budget_j is not None or self.budgets_file)


@dataclass
class GateResult:
    verdicts: list[gating.StepVerdict]
    change: dict[str, Any] | None

    @property
    def exit_code(self) -> int:
        if gating.regressed(self.verdicts):
            return EXIT_REGRESSION
        if gating.over_budget(self.verdicts):
            return EXIT_OVER_BUDGET
        return 0


def check(config: Config, reports: list[dict[str, Any]], options: GateOptions) -> GateResult:
    """Verdicts per step of the reported runs.

    :raises _reports.ReportError: the comparison cannot be had.
    :raises gating.BudgetError: the budgets file cannot be used.
    """
    scenario = reports[-1]["run"]["scenario"]
    budgets = (
        gating.load_budgets(options.budgets_file, scenario)
        if options.budgets_file
        else gating.Budgets()
    )
    if options.budget_j is not None:
        budgets.by_step[gating.TOTAL] = options.budget_j
    change = (
        _reports.change(config, reports, options.compare_to, options.threshold_pct)
        if options.compare_to
        else None
    )
    verdicts = gating.evaluate(reports, change, budgets, options.fail_on_regression)
    return GateResult(verdicts, change)


def summarise(reports: list[dict[str, Any]], result: GateResult) -> str:
    """The markdown summary, also appended to ``$GITHUB_STEP_SUMMARY`` when set (GitHub
    Actions shows it on the job's page)."""
    text = ci_format.markdown(reports, result.verdicts, result.change)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(text + "\n")
    return text


def failures(result: GateResult) -> list[str]:
    """One line per failed step, for stderr or pytest's summary."""
    return [f"{v.name}: {'; '.join(v.failures)}" for v in result.verdicts if v.failed]
