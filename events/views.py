"""Web pages: recent runs, and one run's report with its charts."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from events.models import Run
from events.reports import ReportUnavailable, chart_series, run_report


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = Run.objects.select_related("pod").order_by("-started_at")
    pod = request.GET.get("pod", "")
    scenario = request.GET.get("scenario", "")
    if pod:
        runs = runs.filter(pod__name=pod)
    if scenario:
        runs = runs.filter(scenario=scenario)
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "events/run_list.html",
        {"page": page, "pod": pod, "scenario": scenario},
    )


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(Run.objects.select_related("pod"), pk=pk)
    context: dict[str, Any] = {"run": run}
    try:
        context["report"] = run_report(run)
        context["series"] = chart_series(run)
    except ReportUnavailable as exc:
        context["error"] = str(exc)
        return render(request, "events/run_detail.html", context, status=503)
    return render(request, "events/run_detail.html", context)
