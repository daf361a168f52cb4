"""Filters of the run list."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from collectors.api.filtersets import name_filter
from events.models import Run


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time, compared in UTC.

    PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows (a 500 without this), and a
    time near year 1 or 9999 may not convert at all: that is a 400 naming the filter.
    """

    def __init__(self, *args: Any, param: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.param = param

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if isinstance(value, dt.datetime):
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                raise ValidationError({self.param: ["is out of range"]}) from None
        return super().filter(qs, value)


class RunFilterSet(django_filters.FilterSet):
    pod = name_filter("pod__name", "The pod's name.")
    pod_id = django_filters.NumberFilter(field_name="pod_id")
    scenario = name_filter("scenario")
    source = django_filters.CharFilter()
    running = django_filters.BooleanFilter(method="filter_running")
    started_after = UTCDateTimeFilter(
        param="started_after", field_name="started_at", lookup_expr="gte"
    )
    started_before = UTCDateTimeFilter(
        param="started_before", field_name="started_at", lookup_expr="lt"
    )

    class Meta:
        model = Run
        fields = ["pod", "pod_id", "scenario", "source", "running"]

    def filter_running(self, queryset: QuerySet[Run], name: str, value: bool) -> QuerySet[Run]:
        return queryset.filter(ended_at__isnull=value)
