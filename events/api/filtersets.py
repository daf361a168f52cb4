"""Filters of the run list."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from collectors.api.filtersets import name_filter
from events.models import Run


class RunFilterSet(django_filters.FilterSet):
    pod = name_filter("pod__name", "The pod's name.")
    pod_id = django_filters.NumberFilter(field_name="pod_id")
    scenario = name_filter("scenario")
    source = django_filters.CharFilter()
    running = django_filters.BooleanFilter(method="filter_running")
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["pod", "pod_id", "scenario", "source", "running"]

    def filter_running(self, queryset: QuerySet[Run], name: str, value: bool) -> QuerySet[Run]:
        return queryset.filter(ended_at__isnull=value)
