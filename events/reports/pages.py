"""Web pages: recent runs, and one run's report with its charts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from energylab.api.permissions import visible_pods
from energylab.validators import control_character_in
from events.models import Run
from events.reports.report import ReportUnavailable, chart_series, run_report

# The run list's filters: query parameter -> lookup (exact, as the API's).
FILTERS = {"pod": "pod__name", "scenario": "scenario", "branch": "branch"}


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = Run.objects.select_related("pod").filter(visible_pods(request, "pod__"))
    runs = runs.order_by("-started_at")
    filters = {name: request.GET.get(name, "") for name in FILTERS}
    # No name holds a control character, and PostgreSQL refuses a NUL in a query (a 500): such
    # a filter matches nothing, and the page says why.
    refused = [name for name, value in filters.items() if bad(value)]
    if refused:
        runs = runs.none()
    runs = runs.filter(**{FILTERS[name]: value for name, value in filters.items() if value})
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    kept = urlencode({name: value for name, value in filters.items() if value})
    context = {"page": page, **filters, "refused": refused, "query": kept}
    return render(request, "events/run_list.html", context, status=400 if refused else 200)


def bad(name: str) -> bool:
    """Whether no pod, scenario or branch can have this name (a control character in it)."""
    return control_character_in(name) is not None


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(
        Run.objects.select_related("pod").filter(visible_pods(request, "pod__")), pk=pk
    )
    context: dict[str, Any] = {"run": run}
    try:
        context["report"] = run_report(run)
        context["series"] = chart_series(run)
    except ReportUnavailable as exc:
        context["error"] = str(exc)
        return render(request, "events/run_detail.html", context, status=503)
    return render(request, "events/run_detail.html", context)
