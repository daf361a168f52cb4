"""Web pages: recent runs, and one run's report with its charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from energylab.api.permissions import visible_pods
from events.models import Run
from events.reports.report import ReportUnavailable, chart_series, run_report
from events.reports.run_filters import STATUSES, RunFilters, status_of, stored_report_of

# A running run's page reloads itself every two poll intervals, within these bounds (s).
REFRESH_BOUNDS_S = (2, 60)


@dataclass(frozen=True)
class RunRow:
    """One line of the run list: the run and its stored figures (never an InfluxDB read)."""

    run: Run
    status: str
    duration_s: float | None
    energy_j: float | None
    energy_above_idle_j: float | None


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    filters = RunFilters.from_query(request.GET)
    runs = filters.apply(
        Run.objects.select_related("pod", "stored_report")
        .filter(visible_pods(request, "pod__"))
        .defer("stored_report__document")
        .order_by("-started_at")
    )
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    rows = [row_of(run) for run in page]
    context = {
        "page": page,
        "rows": rows,
        **filters.values,
        "statuses": STATUSES,
        "errors": filters.errors,
        "query": urlencode(filters.given()),
    }
    return render(request, "events/run_list.html", context, status=400 if filters.errors else 200)


def row_of(run: Run) -> RunRow:
    report = stored_report_of(run)
    if report is not None:
        return RunRow(
            run, status_of(run), report.duration_s, report.energy_j, report.energy_above_idle_j
        )
    end = run.ended_at or timezone.now()
    return RunRow(run, status_of(run), (end - run.started_at).total_seconds(), None, None)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(
        Run.objects.select_related("pod").filter(visible_pods(request, "pod__")), pk=pk
    )
    context: dict[str, Any] = {"run": run}
    if run.ended_at is None:
        low, high = REFRESH_BOUNDS_S
        context["refresh_s"] = max(low, min(high, round(2 * float(run.pod.poll_interval))))
    try:
        context["report"] = run_report(run)
    except ReportUnavailable as exc:
        context["error"] = str(exc)
        return render(request, "events/run_detail.html", context, status=503)
    try:
        context["series"] = chart_series(run)
    except ReportUnavailable as exc:
        # A stored report needs no InfluxDB; its power curve does: the page says why it lacks it.
        context["series"] = {"servers": [], "steps": [], "duration": 0}
        context["series_error"] = f"power curve unavailable: {exc}"
    return render(request, "events/run_detail.html", context)
