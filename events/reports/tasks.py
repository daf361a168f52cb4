"""Celery tasks that store final reports: thin wrappers around events.reports.stored.

Beat sends ``queue_final_reports`` every ``REPORTS_CHECK_INTERVAL`` seconds; it sends
``store_report`` for each ended run with no fresh stored report (new, or marked stale by a late
correction). Both are idempotent: a report computed twice is stored twice, the same.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from events.models import Run
from events.reports import stored
from events.reports.report import ReportUnavailable, run_report

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def queue_final_reports() -> list[int]:
    """Send ``store_report`` for the runs whose report is due; their ids."""
    due = stored.due_run_ids()
    for run_id in due:
        store_report.apply_async((run_id,), expires=settings.REPORTS_CHECK_INTERVAL)
    return due


@shared_task(ignore_result=True)
def store_report(run_id: int) -> bool:
    """Compute the run's report and store it if final (``run_report`` does); whether a fresh
    report of it is stored now. A run not final yet is sent again by the next check."""
    run = Run.objects.select_related("pod").filter(pk=run_id).first()
    if run is None or run.ended_at is None:
        return False
    try:
        run_report(run)
    except ReportUnavailable as exc:
        log.warning("report of run %s not stored: %s", run_id, exc)
        return False
    found = stored.load(run)
    return found is not None and not found.stale
