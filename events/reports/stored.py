"""Stored reports: a run's final report kept in the database, and when it must be recomputed.

A report is final once the run has ended and every sample it reads is in InfluxDB
(:mod:`events.ingest.settling`). From then on its figures change only through a late
correction: samples written later inside the window the report read (a legacy collector's
backlog, a ``/write`` replay), or a run or step edited (the admin). So the report is stored
when it is first computed final (:func:`store`), served from the database after that, marked
``stale`` by a late correction (:func:`samples_written`, :func:`run_changed`) and recomputed by
the ``store_report`` task (events.reports.tasks), which beat sends for every ended run that has
no fresh stored report. A stale report is still served (with a warning) while InfluxDB cannot
be read, and a recomputation that finds no sample at all where the stored report had some
(the run is past the InfluxDB retention) keeps the stored figures.

One gap is known: samples written into a run's window while its report is being computed for
the first time (between the computation's read and the store, a second at most) find no stored
report to mark, and the stored one lacks them. Only late samples do that (fresh ones come after
the window ends), and a later late correction, or an edit, recomputes it.

Plain functions over :class:`events.models.RunReport` and :class:`events.models.ReportFigure`;
the report's JSON is :func:`events.reports.report.run_report`'s (docs/reports.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from energylab.timestamps import from_ns
from events.models import ReportFigure, Run, RunReport

# Beat sends at most this many runs to the report task per pass (a backlog, e.g. every run of
# an installation that just got stored reports, is worked through pass after pass).
DUE_PER_PASS = 20

STALE_UNREADABLE = (
    "these figures may be out of date: a late correction came after they were stored, and "
    "InfluxDB cannot be read to recompute them now"
)
KEPT_PAST_RETENTION = (
    "these figures were stored when the run's samples were in InfluxDB; they are no longer "
    "there (past the retention), so a late correction could not be applied"
)


def load(run: Run) -> RunReport | None:
    """The run's stored report, fresh or stale; None when none is stored."""
    return RunReport.objects.filter(run_id=run.pk).first()


def store(run: Run, report: Mapping[str, Any], computed_at: dt.datetime) -> RunReport:
    """Store (or replace) the run's final report, its figures as columns and rows.

    ``computed_at``: when the computation began reading samples; the report covers the samples
    written until then.
    """
    total = report["total"]
    window_start, window_end = _window(run, report)
    fields = {
        "document": report,
        "computed_at": computed_at,
        "stale": False,
        "window_start": window_start,
        "window_end": window_end,
        "duration_s": total["duration_s"] or 0.0,
        "energy_j": total["energy_j"],
        "energy_j_low": total["energy_j_low"],
        "energy_j_high": total["energy_j_high"],
        "energy_above_idle_j": total["energy_above_idle_j"],
        "idle_w": (report.get("idle") or {}).get("watts"),
        "sample_count": total["sample_count"],
        "coverage": total["coverage"],
        "warning_count": len(report["warnings"]) + len(total["warnings"]),
    }
    with transaction.atomic():
        stored, _ = RunReport.objects.update_or_create(run_id=run.pk, defaults=fields)
        ReportFigure.objects.filter(report=stored).delete()
        ReportFigure.objects.bulk_create(_figures(stored, report), batch_size=2000)
    return stored


def keep(stored: RunReport) -> dict[str, Any]:
    """Keep a stored report whose samples are gone from InfluxDB: no longer stale, and says so."""
    document = dict(stored.document)
    if KEPT_PAST_RETENTION not in document["warnings"]:
        document["warnings"] = [*document["warnings"], KEPT_PAST_RETENTION]
    RunReport.objects.filter(pk=stored.pk).update(stale=False, document=document)
    return document


def with_warning(document: Mapping[str, Any], warning: str) -> dict[str, Any]:
    """A copy of a stored report with one more warning (never written back)."""
    return {**document, "warnings": [*document["warnings"], warning]}


def _window(run: Run, report: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The span of samples the report's figures rest on: its idle stretches, the run, and up
    to two poll intervals past its end (what ``final`` waited for)."""
    assert run.ended_at is not None, "only an ended run's report is stored"
    start = run.started_at
    idle = report.get("idle") or {}
    if idle.get("started_at"):
        start = min(start, dt.datetime.fromisoformat(idle["started_at"]))
    end = run.ended_at + dt.timedelta(seconds=2 * float(report["poll_interval_s"]))
    return start, end


def _figures(stored: RunReport, report: Mapping[str, Any]) -> Iterable[ReportFigure]:
    sections: list[tuple[int | None, Mapping[str, Any]]] = list(enumerate(report["steps"]))
    sections.append((None, report["total"]))
    for index, section in sections:
        name = (section.get("name") or "") if index is not None else ""
        yield _figure(stored, index, name, "", section)
        for server in section["servers"]:
            yield _figure(stored, index, name, server["server"], server)


def _figure(
    stored: RunReport, index: int | None, step: str, server: str, figures: Mapping[str, Any]
) -> ReportFigure:
    return ReportFigure(
        report=stored,
        step_index=index,
        step=step,
        server=server,
        duration_s=figures["duration_s"] or 0.0,
        energy_j=figures["energy_j"],
        energy_j_low=figures["energy_j_low"],
        energy_j_high=figures["energy_j_high"],
        energy_above_idle_j=figures["energy_above_idle_j"],
        mean_w=figures["mean_w"],
        peak_w=figures["peak_w"],
        sample_count=figures["sample_count"],
        coverage=figures["coverage"],
    )


# -- late corrections ------------------------------------------------------------------------


def samples_written(spans: Mapping[str, tuple[int, int]]) -> int:
    """Mark stale the stored reports whose window holds samples just written: ``spans`` is,
    per pod name, the first and last time (ns) written. The writer calls it after each pass
    (events.tasks). How many reports it marked."""
    if not spans:
        return 0
    inside = Q()
    for pod, (first_ns, last_ns) in spans.items():
        inside |= Q(
            run__pod__name=pod,
            window_start__lte=from_ns(last_ns),
            window_end__gte=from_ns(first_ns),
        )
    return RunReport.objects.filter(inside, stale=False).update(stale=True)


def run_changed(run_ids: Iterable[int]) -> int:
    """Mark stale the stored reports of these runs (a run or one of its steps was edited),
    and those of the other runs of their pods whose window the runs' time falls in (another
    run's time is not idle time). How many reports it marked."""
    runs = list(
        Run.objects.filter(pk__in=list(run_ids)).values_list(
            "pk", "pod_id", "started_at", "ended_at"
        )
    )
    if not runs:
        return 0
    touched = Q(run_id__in=[pk for pk, *_ in runs])
    for _pk, pod_id, started_at, ended_at in runs:
        touched |= Q(
            run__pod_id=pod_id,
            window_start__lte=ended_at or timezone.now(),
            window_end__gte=started_at,
        )
    return RunReport.objects.filter(touched, stale=False).update(stale=True)


def due_run_ids(now: dt.datetime | None = None, limit: int = DUE_PER_PASS) -> list[int]:
    """Ended runs whose report may be final by now and is not stored, or stored but stale,
    oldest end first."""
    # Before this, the run's last samples are still in the buffer (events.ingest.settling).
    settle = dt.timedelta(seconds=settings.CORRELATION_DELAY + settings.WRITER_INTERVAL)
    cutoff = (now or timezone.now()) - settle
    return list(
        Run.objects.filter(ended_at__lt=cutoff)
        .filter(Q(stored_report__isnull=True) | Q(stored_report__stale=True))
        .order_by("ended_at")
        .values_list("pk", flat=True)[:limit]
    )
