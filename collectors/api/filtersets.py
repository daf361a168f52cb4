"""Filters of the pod and server lists."""

from __future__ import annotations

import django_filters

from collectors.models import BMCType, Pod, Server


class PodFilterSet(django_filters.FilterSet):
    class Meta:
        model = Pod
        fields = ["name", "active", "queue"]


class ServerFilterSet(django_filters.FilterSet):
    pod_name = django_filters.CharFilter(field_name="pod__name", help_text="The pod's name.")
    bmc_type = django_filters.ChoiceFilter(choices=BMCType.choices)

    class Meta:
        model = Server
        fields = ["pod", "pod_name", "name", "bmc_type", "active"]
