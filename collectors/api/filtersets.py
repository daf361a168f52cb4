"""Filters of the pod and server lists."""

from __future__ import annotations

import django_filters

from collectors.models import BMCType, Pod, Server
from energylab.api.filters import IdFilter


def name_filter(field_name: str, help_text: str = "") -> django_filters.CharFilter:
    """An exact name filter that keeps spaces: names are stored exactly as sent."""
    return django_filters.CharFilter(field_name=field_name, strip=False, help_text=help_text)


class PodFilterSet(django_filters.FilterSet):
    name = name_filter("name")

    class Meta:
        model = Pod
        fields = ["name", "active", "queue"]


class ServerFilterSet(django_filters.FilterSet):
    # By id, without checking that the pod exists: an unknown pod has no servers (not a 400).
    pod = IdFilter(field_name="pod_id", help_text="The pod's id.")
    pod_name = name_filter("pod__name", "The pod's name.")
    name = name_filter("name")
    bmc_type = django_filters.ChoiceFilter(choices=BMCType.choices)

    class Meta:
        model = Server
        fields = ["pod", "pod_name", "name", "bmc_type", "active"]
