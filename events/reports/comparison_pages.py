"""Web pages of comparisons: two sets of a scenario's runs per step, and a pod's scenarios
ranked by energy. The figures are :mod:`events.reports.comparison`'s, as the API serves them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from energylab.api.permissions import may_read
from energylab.validators import control_character_in
from events.reports import comparison
from events.reports.report import ReportUnavailable

DEFAULT_A, DEFAULT_B = "last:5", "last:5"


def _float(text: str, default: float) -> float | None:
    try:
        return float(text) if text else default
    except ValueError:
        return None


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    """``/runs/compare/?pod=P&scenario=S&a=branch:main&b=branch:feature`` (a and b default to
    the last five runs against the five before them)."""
    form = {
        "pod": request.GET.get("pod", ""),
        "scenario": request.GET.get("scenario", ""),
        "a": request.GET.get("a", DEFAULT_A),
        "b": request.GET.get("b", DEFAULT_B),
        "threshold_pct": request.GET.get("threshold_pct", ""),
    }
    context: dict[str, Any] = {**form}
    if not (form["pod"] and form["scenario"]):
        return render(request, "events/comparison.html", context)
    threshold = _float(form["threshold_pct"], comparison.DEFAULT_THRESHOLD_PCT)
    errors = []
    if any(control_character_in(form[key]) is not None for key in ("pod", "scenario", "a", "b")):
        errors.append("no pod, scenario or branch name holds a control character")
    if threshold is None or not 0 <= threshold <= 1000:
        errors.append("the threshold is a number of percent from 0 to 1000")
    sets = []
    for key in ("a", "b"):
        try:
            sets.append(comparison.parse_set(form[key]))
        except comparison.BadSet as exc:
            errors.append(f"set {key.upper()}: {exc}")
    if errors:
        context["errors"] = errors
        return render(request, "events/comparison.html", context, status=400)
    assert threshold is not None
    try:
        if not may_read(request, form["pod"]):
            raise comparison.NoRuns(
                f"no run of scenario {form['scenario']!r} on pod {form['pod']!r}"
            )
        context["change"] = comparison.compare_sets(
            form["pod"], form["scenario"], sets[0], sets[1], threshold_pct=threshold
        )
    except comparison.NoRuns as exc:
        context["errors"] = [str(exc)]
        return render(request, "events/comparison.html", context, status=404)
    except ReportUnavailable as exc:
        context["errors"] = [str(exc)]
        return render(request, "events/comparison.html", context, status=503)
    return render(request, "events/comparison.html", context)


@login_required
def ranking(request: HttpRequest) -> HttpResponse:
    """``/runs/ranking/?pod=P``: which scenario (which VNF) costs the most energy on the pod."""
    pod = request.GET.get("pod", "")
    context: dict[str, Any] = {"pod": pod}
    if not pod:
        return render(request, "events/ranking.html", context)
    if control_character_in(pod) is not None:
        context["errors"] = ["a pod name holds no control character"]
        return render(request, "events/ranking.html", context, status=400)
    try:
        # Another team's pod ranks as an unknown one: no scenario.
        context["scenarios"] = comparison.ranking(pod) if may_read(request, pod) else []
    except ReportUnavailable as exc:
        context["errors"] = [str(exc)]
        return render(request, "events/ranking.html", context, status=503)
    return render(request, "events/ranking.html", context)
