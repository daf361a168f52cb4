"""Two sets of a scenario's runs on a pod compared step by step, and the pod's scenarios ranked
by energy (docs/reports.md#comparison).

A set is written ``branch:NAME`` (the last runs of a branch), ``last:N`` (the last N runs; as
the reference set A: the N runs before set B) or ``runs:ID,ID,...``. Only ended runs count: a
running run's figures are partial. Figures come from :func:`run_report`, one report per run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from events.models import Run
from events.reports import significance
from events.reports.report import run_report

DEFAULT_LIMIT = 10  # runs of a branch in a set
MAX_RUNS = 100
DEFAULT_THRESHOLD_PCT = significance.DEFAULT_THRESHOLD_PCT
DEFAULT_ALPHA = significance.DEFAULT_ALPHA
TOTAL = "TOTAL"
# The figures compared, per step and for the whole run.
FIGURES = ("energy_j", "energy_above_idle_j")


class NoRuns(LookupError):
    """Set B (the change) holds no ended run of the scenario on the pod; says so."""


class BadSet(ValueError):
    """A set's text is not ``branch:NAME``, ``last:N`` or ``runs:ID,...``; says why."""


@dataclass(frozen=True)
class RunSet:
    kind: str  # "branch", "last" or "runs"
    branch: str = ""
    count: int = 0
    ids: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.kind == "branch":
            return f"branch:{self.branch}"
        if self.kind == "last":
            return f"last:{self.count}"
        return "runs:" + ",".join(map(str, self.ids))


def parse_set(text: str) -> RunSet:
    """:raises BadSet: not a set's text."""
    kind, sep, value = text.partition(":")
    if not sep or not value:
        raise BadSet(f"{text!r}: expected branch:NAME, last:N or runs:ID,ID,...")
    if kind == "branch":
        return RunSet("branch", branch=value)
    if kind == "last":
        if not value.isdigit() or not 1 <= int(value) <= MAX_RUNS:
            raise BadSet(f"{text!r}: N of last:N is a whole number from 1 to {MAX_RUNS}")
        return RunSet("last", count=int(value))
    if kind == "runs":
        parts = value.split(",")
        if not all(p.strip().isdigit() for p in parts) or len(parts) > MAX_RUNS:
            raise BadSet(f"{text!r}: runs:ID,ID,... takes up to {MAX_RUNS} run ids")
        return RunSet("runs", ids=tuple(int(p) for p in parts))
    raise BadSet(f"{text!r}: a set is branch:NAME, last:N or runs:ID,ID,...")


def _select(runs: QuerySet[Run], spec: RunSet, limit: int, before: Run | None = None) -> list[Run]:
    """The runs of a set, oldest first; ``before``: set A's ``last:N`` ends before that run."""
    if spec.kind == "runs":
        chosen = runs.filter(pk__in=spec.ids)
    elif spec.kind == "branch":
        chosen = runs.filter(branch=spec.branch)[:limit]
    elif before is not None:
        chosen = runs.filter(started_at__lt=before.started_at)[: spec.count]
    else:
        chosen = runs[: spec.count]
    return sorted(chosen, key=lambda run: run.started_at)


def _figures(run: Run) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """A run's description and its figures by step name (``TOTAL``: the run's), a step that
    ran twice in the run counted once with the sum of its intervals."""
    report = run_report(run)
    figures: dict[str, dict[str, float]] = defaultdict(dict)
    for section in [*report["steps"], {**report["total"], "name": TOTAL}]:
        for key in FIGURES:
            value = section.get(key)
            if value is not None:
                mine = figures[section["name"]]
                mine[key] = mine.get(key, 0.0) + value
    return report["run"], figures


def _side(runs: list[Run]) -> tuple[list[dict[str, Any]], list[dict[str, dict[str, float]]]]:
    described, figures = [], []
    for run in runs:
        info, mine = _figures(run)
        described.append(info)
        figures.append(mine)
    return described, figures


def _row(
    name: str,
    a: list[dict[str, dict[str, float]]],
    b: list[dict[str, dict[str, float]]],
    threshold_pct: float,
    alpha: float,
) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name}
    energy: significance.Difference | None = None
    for key in FIGURES:
        values_a = [f[name][key] for f in a if key in f.get(name, {})]
        values_b = [f[name][key] for f in b if key in f.get(name, {})]
        if not values_a and not values_b:
            row[key] = None
            continue
        diff = significance.compare(values_a, values_b)
        if key == "energy_j":
            energy = diff
        row[key] = {
            "a": _rounded(significance.summary(values_a)),
            "b": _rounded(significance.summary(values_b)),
            "difference": _r(diff.difference),
            "difference_pct": _r(diff.difference_pct, 2),
            "ci_low": _r(diff.ci_low),
            "ci_high": _r(diff.ci_high),
            "p_value": None if diff.p_value is None else float(f"{diff.p_value:.4g}"),
            "effect_size": _r(diff.effect_size, 2),
            "significant": diff.p_value is not None and diff.p_value < alpha,
        }
    # The decision is on energy: above idle says more, but is unknown on pods without an idle.
    row["regression"] = energy is not None and significance.is_regression(
        energy, threshold_pct, alpha
    )
    row["improvement"] = bool(
        energy is not None
        and energy.p_value is not None
        and energy.p_value < alpha
        and energy.difference_pct is not None
        and energy.difference_pct < -threshold_pct
    )
    return row


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _rounded(summary: dict[str, float | int | None]) -> dict[str, float | int | None]:
    return {k: v if isinstance(v, int) or v is None else round(v, 3) for k, v in summary.items()}


def compare_sets(
    pod: str,
    scenario: str,
    a: RunSet,
    b: RunSet,
    *,
    limit: int = DEFAULT_LIMIT,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """Set B (the change) against set A (the reference), per step and for the whole run.

    A run in both sets counts in B only.

    :raises NoRuns: set B is empty (set A may be: its figures are then ``null``).
    :raises ReportUnavailable: InfluxDB cannot be read.
    """
    runs = (
        Run.objects.select_related("pod")
        .filter(pod__name=pod, scenario=scenario, ended_at__isnull=False)
        .order_by("-started_at")
    )
    runs_b = _select(runs, b, limit)
    if not runs_b:
        raise NoRuns(f"no ended run of scenario {scenario!r} on pod {pod!r} in set B ({b})")
    runs_a = _select(
        runs.exclude(pk__in=[r.pk for r in runs_b]), a, limit, runs_b[0] if runs_b else None
    )
    described_a, figures_a = _side(runs_a)
    described_b, figures_b = _side(runs_b)
    names = _step_names([*figures_b, *figures_a])
    rows = [_row(name, figures_a, figures_b, threshold_pct, alpha) for name in names]
    return {
        "pod": pod,
        "scenario": scenario,
        "a": {"set": str(a), "runs": described_a},
        "b": {"set": str(b), "runs": described_b},
        "test": significance.TEST_NAME,
        "alpha": alpha,
        "confidence": 0.95,
        "threshold_pct": threshold_pct,
        "steps": [row for row in rows if row["name"] != TOTAL],
        "total": next((row for row in rows if row["name"] == TOTAL), None),
        "regressions": [row["name"] for row in rows if row["regression"]],
    }


def _step_names(figures: Iterable[dict[str, dict[str, float]]]) -> list[str]:
    """Step names in the order the runs ran them, the total last."""
    names: dict[str, None] = {}
    for mine in figures:
        names.update(dict.fromkeys(name for name in mine if name != TOTAL))
    return [*names, TOTAL]


def ranking(pod: str, last: int = 5) -> list[dict[str, Any]]:
    """The pod's scenarios from the costliest down: mean energy of their last ``last`` ended
    runs (and above idle, where the pod's idle is known), with their mean duration and power."""
    runs = Run.objects.select_related("pod").filter(pod__name=pod, ended_at__isnull=False)
    scenarios = runs.order_by().values_list("scenario", flat=True).distinct()
    ranked: list[dict[str, Any]] = []
    for scenario in scenarios:
        chosen = list(runs.filter(scenario=scenario).order_by("-started_at")[:last])
        totals = [run_report(run)["total"] for run in chosen]
        energy = [t["energy_j"] for t in totals if t["energy_j"] is not None]
        above = [t["energy_above_idle_j"] for t in totals if t["energy_above_idle_j"] is not None]
        durations = [t["duration_s"] for t in totals if t["duration_s"] is not None]
        mean = significance.summary(energy)["mean"]
        duration = significance.summary(durations)["mean"]
        ranked.append(
            {
                "scenario": scenario,
                "runs": len(chosen),
                "energy_j": _rounded(significance.summary(energy)),
                "energy_above_idle_j": _r(significance.summary(above)["mean"]),
                "duration_s": _r(duration),
                "mean_w": _r(mean / duration if mean is not None and duration else None),
            }
        )
    ranked.sort(key=lambda row: -(row["energy_j"]["mean"] or 0.0))
    return ranked
