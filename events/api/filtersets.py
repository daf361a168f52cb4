"""Filters of the run list."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from events.models import Run


class RunFilterSet(django_filters.FilterSet):
    pod = django_filters.CharFilter(field_name="pod__name", help_text="The pod's name.")
    pod_id = django_filters.NumberFilter(field_name="pod_id")
    scenario = django_filters.CharFilter()
    source = django_filters.CharFilter()
    running = django_filters.BooleanFilter(method="filter_running")
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["pod", "pod_id", "scenario", "source", "running"]

    def filter_running(self, queryset: QuerySet[Run], name: str, value: bool) -> QuerySet[Run]:
        return queryset.filter(ended_at__isnull=value)
