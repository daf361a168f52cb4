"""Numbers of the events APIs: a run filter, a legacy time or reading of any size is refused
naming its field, never with Python's own int-conversion error (an HTML 500 past 4300 digits)."""

from __future__ import annotations

import pytest

from events.api.filtersets import RunFilterSet
from events.api.legacy import serializers as legacy
from events.models import Run

HUGE = "9" * 5000


@pytest.mark.parametrize(
    "serializer",
    [legacy.LegacyTimeQuerySerializer, legacy.LegacyStepSerializer],
)
def test_a_huge_legacy_time_is_refused_naming_the_field(serializer: type) -> None:
    checked = serializer(data={"step": "s", "time": HUGE})
    assert not checked.is_valid()
    assert "`time` has 5000 digits" in str(checked.errors["time"])


def test_a_legacy_reading_too_large_for_a_float_is_refused() -> None:
    for value in (10**400, HUGE, "1e400"):
        checked = legacy.ConsumptionSerializer(data={"environment": "e", "power": value})
        assert not checked.is_valid()
        assert "power" in checked.errors


def test_the_run_filters_name_the_parameter_of_a_huge_number() -> None:
    for param in ("pod_id", "started_after", "started_before"):
        filters = RunFilterSet({param: HUGE}, queryset=Run.objects.none())
        assert not filters.is_valid()
        assert param in filters.errors, filters.errors
