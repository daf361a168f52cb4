"""The scenario page: one scenario's history on one pod, and the scenario across pods.

Read from stored reports only (events.reports.history): the page costs a few database queries
whatever the number of runs, servers or samples, and shows runs past the InfluxDB retention.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from energylab.api.permissions import visible_pods
from energylab.validators import control_character_in
from events.models import Run
from events.reports import history
from events.reports.run_filters import RunFilters

DEFAULT_RUNS = 100
MAX_RUNS = 1000
# The filters the page takes besides its pod and scenario (events.reports.run_filters).
FILTERS = ("branch", "label", "since", "until")


@login_required
def scenario_page(request: HttpRequest) -> HttpResponse:
    pod = request.GET.get("pod", "")
    scenario = request.GET.get("scenario", "")
    filters = RunFilters.from_query(request.GET, FILTERS)
    context: dict[str, Any] = {"pod": pod, "scenario": scenario, **filters.values}
    errors = [
        f"the {name} is missing: this page is about one scenario on one pod"
        for name, value in (("pod", pod), ("scenario", scenario))
        if not value
    ] + [
        f"the {name} holds a control character, which no name may contain"
        for name, value in (("pod", pod), ("scenario", scenario))
        if value and control_character_in(value) is not None
    ]
    last = _last(request.GET.get("last"), errors)
    context["last"] = last
    if not errors:
        # Only the pods the user may read: another team's pod is an unknown one here.
        runs = filters.apply(Run.objects.filter(visible_pods(request, "pod__"), scenario=scenario))
        errors += filters.errors
    if errors:
        context["errors"] = errors
        return render(request, "events/scenario.html", context, status=400)
    here = history.runs_of(runs.filter(pod__name=pod), last)
    steps = history.step_names(here)
    pods = history.across_pods(runs, last, steps)
    context.update(
        runs=here,
        # Newest first, each run's step energies in the columns' order.
        rows=[(run, [run.steps.get(name) for name in steps]) for run in reversed(here)],
        steps=steps,
        spread=history.spreads(here, steps),
        pods=pods,
        chart=_chart(here, steps, pods),
        kept=urlencode(filters.given()),
        unstored=runs.filter(pod__name=pod, stored_report__isnull=True).count(),
    )
    found = here or runs.filter(pod__name=pod).exists()
    return render(request, "events/scenario.html", context, status=200 if found else 404)


def _last(value: str | None, errors: list[str]) -> int:
    if not value:
        return DEFAULT_RUNS
    try:
        last = int(value)
    except ValueError:
        last = 0
    if not 1 <= last <= MAX_RUNS:
        errors.append(f"last must be a whole number from 1 to {MAX_RUNS}, not {value!r}")
        return DEFAULT_RUNS
    return last


def _wh(value: float | None) -> float | None:
    return None if value is None else value / 3600


def _chart(
    runs: list[history.RunEnergy], steps: list[str], pods: list[history.PodComparison]
) -> dict[str, Any]:
    """What the page's script draws (Wh): the runs in time order, total and per step, and the
    mean energy above idle per pod."""
    return {
        "labels": [run.label for run in runs],
        "runs": [run.run_id for run in runs],
        "started": [run.started_at.isoformat() for run in runs],
        "total": [_wh(run.energy_j) for run in runs],
        "steps": {name: [_wh(run.steps.get(name)) for run in runs] for name in steps},
        "pods": [p.pod for p in pods],
        "pods_above_idle": [_wh(p.total.mean) for p in pods],
        "pods_above_idle_stdev": [_wh(p.total.stdev) for p in pods],
    }
