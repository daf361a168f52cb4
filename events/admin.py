"""Admin for runs, their steps and their stored reports."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from collectors.admin import TeamScopedAdmin, visible_name
from events.models import Run, RunReport, Step


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    fields = ["name", "started_at", "ended_at"]
    ordering = ["started_at"]


@admin.register(Run)
class RunAdmin(TeamScopedAdmin):
    pod_field = "pod__"
    list_display = [
        "id",
        "scenario",
        "pod_name",
        "started_at",
        "ended_at",
        "abandoned",
        "source",
        "branch",
        "commit",
    ]
    list_filter = [
        "source",
        "abandoned",
        "ci_system",
        "pod",
        ("ended_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["scenario", "pod__name", "steps__name", "commit", "branch"]
    list_select_related = ["pod"]
    date_hierarchy = "started_at"
    readonly_fields = ["received_at", "ended_received_at", "abandoned"]
    inlines = [StepInline]

    @admin.display(description="pod", ordering="pod__name")
    def pod_name(self, run: Run) -> str:
        return visible_name(run.pod.name)


@admin.register(Step)
class StepAdmin(TeamScopedAdmin):
    pod_field = "run__pod__"
    list_display = ["name", "run", "started_at", "ended_at"]
    search_fields = ["name", "run__scenario"]
    list_select_related = ["run", "run__pod"]
    raw_id_fields = ["run"]


@admin.register(RunReport)
class RunReportAdmin(TeamScopedAdmin):
    """Stored reports, read-only: they are computed (events.reports.stored); an operator may
    only have some recomputed (from the samples still in InfluxDB)."""

    pod_field = "run__pod__"

    list_display = ["run", "energy_j", "energy_above_idle_j", "duration_s", "stale", "computed_at"]
    list_filter = ["stale"]
    list_select_related = ["run", "run__pod"]
    search_fields = ["run__scenario", "run__pod__name"]
    raw_id_fields = ["run"]
    actions = ["recompute"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Recompute from the samples (marks them stale)")
    def recompute(self, request: HttpRequest, queryset: QuerySet[RunReport]) -> None:
        marked = queryset.update(stale=True)
        self.message_user(request, f"{marked} report(s) will be recomputed at the next check")
