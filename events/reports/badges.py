"""SVG badges for READMEs and CI pages: a scenario's last energy on a pod and its trend.

``/badges/<pod>/<scenario>.svg`` (each name URL-encoded: any printable character works, "/"
as ``%2F``). The trend is the last ended run's energy against the mean of the runs before it.
Badges are public unless ``ENERGYLAB_PUBLIC_BADGES`` is false (an image in a README cannot
send a token); they show nothing but these two figures. When it is false, a badge needs a login
and shows only the pods the user may read: another team's pod answers "no runs", as an unknown
one does (docs/access.md).
"""

from __future__ import annotations

import statistics

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from energylab_sdk.report_format import significant

from energylab.api.permissions import visible_pods
from energylab.validators import control_character_in
from events.models import Run
from events.reports.report import ReportUnavailable, run_report

HISTORY = 5  # runs before the last one that its trend is measured against
STEADY_PCT = 2.0  # a trend within ±2 % shows as steady
CHAR_WIDTH = 7  # px per character of Verdana 11 px, about: badges need no exact fit
GREEN, RED, BLUE, GREY = "#4c1", "#e05d44", "#007ec6", "#9f9f9f"


def _candidates(rest: str) -> list[tuple[str, str]]:
    """(pod, scenario) splits of ``<pod>/<scenario>``: a "/" decoded from ``%2F`` may sit in
    either name, so every split is a candidate; the first whose runs exist wins."""
    parts = rest.split("/")
    return [("/".join(parts[:i]), "/".join(parts[i:])) for i in range(1, len(parts))]


def _message(pod: str, scenario: str, scope: Q) -> tuple[str, str]:
    runs = list(
        Run.objects.select_related("pod")
        .filter(scope, pod__name=pod, scenario=scenario, ended_at__isnull=False)
        .order_by("-started_at")[: HISTORY + 1]
    )
    energies = [e for e in (run_report(run)["total"]["energy_j"] for run in runs) if e is not None]
    if not energies:
        return "no data", GREY
    last, before = energies[0], energies[1:]
    text = f"{significant(last)} J"
    if not before:
        return text, BLUE
    change = (last / statistics.fmean(before) - 1) * 100 if statistics.fmean(before) else 0.0
    if abs(change) < STEADY_PCT:
        return f"{text} → steady", GREEN
    return f"{text} {'↑' if change > 0 else '↓'} {abs(change):.0f} %", RED if change > 0 else GREEN


def badge(request: HttpRequest, rest: str) -> HttpResponse:
    if not settings.PUBLIC_BADGES and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    scope = Q() if settings.PUBLIC_BADGES else visible_pods(request, "pod__")
    # No name holds a control character, and PostgreSQL refuses a NUL in a query (a 500).
    found = next(
        (
            (pod, scenario)
            for pod, scenario in ([] if control_character_in(rest) else _candidates(rest))
            if Run.objects.filter(scope, pod__name=pod, scenario=scenario).exists()
        ),
        None,
    )
    label = found[1] if found else rest.rsplit("/", 1)[-1]
    status = 200
    try:
        message, colour = _message(*found, scope) if found else ("no runs", GREY)
    except ReportUnavailable:
        message, colour, status = "unavailable", GREY, 503
    label_width = CHAR_WIDTH * len(label) + 10
    message_width = CHAR_WIDTH * len(message) + 10
    svg = render_to_string(
        "events/badge.svg",
        {
            "label": label,
            "message": message,
            "colour": colour,
            "label_width": label_width,
            "message_width": message_width,
            "width": label_width + message_width,
            "label_x": label_width / 2,
            "message_x": label_width + message_width / 2,
        },
    )
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8", status=status)
    # Image proxies (GitHub's camo) keep a badge as long as they are let: not long.
    response["Cache-Control"] = "max-age=300"
    return response
