"""Filters of the run list."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from collectors.api.filtersets import name_filter
from energylab.api.filters import IdFilter
from events import timestamps
from events.models import Run


class TimeFormField(forms.Field):
    """A time as events take it: RFC 3339 with a UTC offset, or integer nanoseconds.

    The same formats as ``at`` (docs/api.md), so a client can filter with the times it sends and
    reads; a naive time is refused, as everywhere (which zone would it be in?). No range check:
    a filter may ask about any time a datetime holds.
    """

    def __init__(self, *args: Any, param: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.param = param

    def to_python(self, value: Any) -> dt.datetime | None:
        if value in self.empty_values:
            return None
        try:
            return timestamps.parse_any(value)
        except timestamps.TimestampError as exc:
            raise forms.ValidationError(f"`{self.param}` {exc}") from None


class StrictBooleanFormField(forms.Field):
    """``true``/``false`` (or ``1``/``0``, ``yes``/``no``), else a 400: django-filter's boolean
    takes anything else as "not given", so ``?running=maybe`` listed every run."""

    TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        lowered = str(value).strip().lower()
        if lowered in self.TRUE:
            return True
        if lowered in self.FALSE:
            return False
        raise forms.ValidationError(f"{value!r} is not true or false")


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanFormField


class TimeFilter(django_filters.Filter):
    field_class = TimeFormField

    def __init__(self, *args: Any, param: str, **kwargs: Any) -> None:
        super().__init__(*args, param=param, **kwargs)  # given to the form field


class RunFilterSet(django_filters.FilterSet):
    pod = name_filter("pod__name", "The pod's name.")
    pod_id = IdFilter(field_name="pod_id")
    scenario = name_filter("scenario")
    source = django_filters.CharFilter()
    running = StrictBooleanFilter(method="filter_running")
    started_after = TimeFilter(
        param="started_after",
        field_name="started_at",
        lookup_expr="gte",
        help_text="RFC 3339 with a UTC offset, or integer nanoseconds.",
    )
    started_before = TimeFilter(
        param="started_before",
        field_name="started_at",
        lookup_expr="lt",
        help_text="RFC 3339 with a UTC offset, or integer nanoseconds.",
    )

    class Meta:
        model = Run
        fields = ["pod", "pod_id", "scenario", "source", "running"]

    def filter_running(self, queryset: QuerySet[Run], name: str, value: bool) -> QuerySet[Run]:
        return queryset.filter(ended_at__isnull=value)
