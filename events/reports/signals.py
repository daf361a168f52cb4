"""Late corrections by hand: a run or step edited after its report was stored marks it stale.

Events cannot change an ended run (the services refuse them), so what changes a stored report's
run is an edit through the ORM: the admin, a shell, a data fix. The services' own writes are
``update()`` calls or inserts of running runs and steps, which fire nothing here or are skipped
at once: the event path pays no query for this.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from events.models import Run, Step
from events.reports import stored


@receiver(post_save, sender=Run, dispatch_uid="stored-report-run-saved")
def run_saved(sender: type[Run], instance: Run, **kwargs: Any) -> None:
    if instance.ended_at is not None:  # a running run has no stored report
        stored.run_changed([instance.pk])


@receiver(post_save, sender=Step, dispatch_uid="stored-report-step-saved")
@receiver(post_delete, sender=Step, dispatch_uid="stored-report-step-deleted")
def step_changed(sender: type[Step], instance: Step, **kwargs: Any) -> None:
    # A running step belongs to a running run (the services' step events): nothing stored.
    if instance.ended_at is not None or kwargs.get("signal") is post_delete:
        stored.run_changed([instance.run_id])
