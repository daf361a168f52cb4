"""Admin for runs and their steps."""

from __future__ import annotations

from django.contrib import admin

from collectors.admin import TeamScopedAdmin, visible_name
from events.models import Run, Step


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
