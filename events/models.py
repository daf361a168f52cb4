"""Runs of a scenario on a pod, and the steps inside them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from collectors.models import Pod
from energylab.validators import NAME_MAX_LENGTH, validate_name, validate_printable
from events import provenance


class RunSource(models.TextChoices):
    SDK = "sdk", "SDK"
    CLI = "cli", "CLI"
    LEGACY = "legacy", "Legacy /resources API"
    API = "api", "REST API"


class Run(models.Model):
    """One run of a scenario on a pod. ``ended_at`` is null while it runs."""

    # A pod with runs is never deleted: its history would go with it (deactivate it instead).
    pod = models.ForeignKey(Pod, on_delete=models.PROTECT, related_name="runs")
    scenario = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    started_at = models.DateTimeField(help_text="The client's time of the start event (UTC).")
    ended_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=RunSource.choices, default=RunSource.API)
    received_at = models.DateTimeField(
        auto_now_add=True, help_text="When EnergyLab received the start event."
    )
    ended_received_at = models.DateTimeField(null=True, blank=True, editable=False)
    abandoned = models.BooleanField(
        default=False,
        editable=False,
        help_text="No stop came: no event for ENERGYLAB_RUN_MAX_IDLE, so EnergyLab closed the "
        "run at its last event.",
    )
    updated = models.DateTimeField(auto_now=True, db_index=True)
    # How many steps the run has, kept by triggers on the step table (migration events 0003)
    # whoever adds, deletes or moves steps: every event answers it, and counting the steps of a
    # run of thousands on every event cost more than the rest of the event. Never written by
    # Python (see save()).
    step_count = models.PositiveIntegerField(default=0, editable=False)
    # Provenance (events.provenance): given with the start event, or detected by the SDK from
    # the CI's environment. Blank: not known (legacy clients never say).
    commit = models.CharField(
        max_length=provenance.COMMIT_MAX_LENGTH,
        blank=True,
        default="",
        db_index=True,
        validators=[validate_printable],
    )
    branch = models.CharField(
        max_length=provenance.BRANCH_MAX_LENGTH,
        blank=True,
        default="",
        validators=[validate_printable],
    )
    ci_url = models.CharField(
        "CI job URL",
        max_length=provenance.CI_URL_MAX_LENGTH,
        blank=True,
        default="",
        validators=[provenance.validate_ci_url],
    )
    ci_system = models.CharField(
        "CI system",
        max_length=provenance.CI_SYSTEM_MAX_LENGTH,
        blank=True,
        default="",
        validators=[validate_printable],
    )
    build = models.CharField(
        max_length=provenance.BUILD_MAX_LENGTH,
        blank=True,
        default="",
        validators=[validate_printable],
    )
    labels = models.JSONField(
        default=dict,
        blank=True,
        validators=[provenance.validate_labels],
        help_text="Free labels: an object of names to strings.",
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["pod"],
                condition=Q(ended_at__isnull=True),
                name="one_running_run_per_pod",
                violation_error_message="this pod already has a running run",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="run_ends_after_it_starts",
                violation_error_message="a run cannot end before it starts",
            ),
        ]
        indexes = [
            models.Index(fields=["pod", "started_at"], name="run_pod_started"),
            models.Index(fields=["scenario", "started_at"], name="run_scenario_started"),
            models.Index(fields=["branch", "started_at"], name="run_branch_started"),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} on {self.pod_id} at {self.started_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # An UPDATE of every field would write back the step count as it was read, losing the
        # steps added since; the triggers own that column.
        if (
            not args  # Django's deprecated positional form: left as it is
            and not self._state.adding
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
        ):
            deferred = self.get_deferred_fields()  # as Django saves a partly loaded object
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key
                and field.name != "step_count"
                and field.attname not in deferred
            ]
        super().save(*args, **kwargs)


class Step(models.Model):
    """A named part of a run. Steps of one run follow each other and never overlap."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    # The writer exports steps changed since its last pass to InfluxDB (Grafana annotations).
    updated = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["run", "started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run"],
                condition=Q(ended_at__isnull=True),
                name="one_running_step_per_run",
                violation_error_message="this run already has a running step",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="step_ends_after_it_starts",
                violation_error_message="a step cannot end before it starts",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.run_id is None:
            return
        if self.started_at and self.run.started_at and self.started_at < self.run.started_at:
            raise ValidationError({"started_at": "a step cannot start before its run"})
        end = self.ended_at
        others = Step.objects.filter(run_id=self.run_id).exclude(pk=self.pk)
        overlapping = others.filter(Q(ended_at__isnull=True) | Q(ended_at__gt=self.started_at))
        if end is not None:
            overlapping = overlapping.filter(started_at__lt=end)
        if overlapping.exists():
            raise ValidationError("steps of one run may not overlap")


class RunReport(models.Model):
    """A run's final report, stored once its samples are settled (events.reports.stored).

    ``document`` is the whole report as :func:`events.reports.report.run_report` answers it;
    the figures that lists and history pages query are columns beside it (and per step and
    server in :class:`ReportFigure`), so those pages never read InfluxDB, and a run past the
    InfluxDB retention keeps its figures. ``stale``: a late correction (late samples, an edited
    run or step) came after it was stored; it is served until recomputed.
    """

    run = models.OneToOneField(
        Run, on_delete=models.CASCADE, related_name="stored_report", primary_key=True
    )
    document = models.JSONField()
    computed_at = models.DateTimeField()
    stale = models.BooleanField(default=False, db_index=True)
    # The samples the figures rest on: [window_start, window_end] of the run's pod. Samples
    # written later inside it are a late correction.
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    duration_s = models.FloatField()
    energy_j = models.FloatField(null=True)
    energy_j_low = models.FloatField(null=True)
    energy_j_high = models.FloatField(null=True)
    energy_above_idle_j = models.FloatField(null=True)
    idle_w = models.FloatField(null=True)
    sample_count = models.PositiveIntegerField()
    coverage = models.FloatField()
    warning_count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["window_end", "window_start"], name="report_window")]

    def __str__(self) -> str:
        return f"report of run {self.run_id}"


class ReportFigure(models.Model):
    """One interval of a stored report: a step (``step_index``; null for the whole run) on one
    server (``server``; blank for all the pod's servers together)."""

    report = models.ForeignKey(RunReport, on_delete=models.CASCADE, related_name="figures")
    step_index = models.PositiveIntegerField(null=True)
    step = models.CharField(max_length=NAME_MAX_LENGTH, blank=True)
    server = models.CharField(max_length=NAME_MAX_LENGTH, blank=True)
    duration_s = models.FloatField()
    energy_j = models.FloatField(null=True)
    energy_j_low = models.FloatField(null=True)
    energy_j_high = models.FloatField(null=True)
    energy_above_idle_j = models.FloatField(null=True)
    mean_w = models.FloatField(null=True)
    peak_w = models.FloatField(null=True)
    sample_count = models.PositiveIntegerField()
    coverage = models.FloatField()

    class Meta:
        ordering = ["report", "step_index", "server"]
        indexes = [models.Index(fields=["report", "server"], name="figure_report_server")]

    def __str__(self) -> str:
        return f"{self.step or 'total'} on {self.server or 'all servers'}"
