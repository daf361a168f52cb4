"""Bodies and answers of the legacy API."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from collectors import limits
from collectors.validators import validate_topology
from energylab.api.fields import NameField
from energylab.timestamps import to_ns
from events import timestamps


@extend_schema_field(
    {
        "type": "integer",
        "minimum": 946_684_800_000_000_000,
        "description": "Nanoseconds since the epoch (UTC), from 2000 to five minutes ahead.",
    }
)
class NanosecondsField(serializers.Field):
    """The legacy API's times: integer nanoseconds (a JSON integer or a string of digits)."""

    def to_internal_value(self, data: Any) -> dt.datetime:
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError(
                f"`{self.field_name}` must be integer nanoseconds, not {type(data).__name__}"
            )
        text = str(data).strip()
        if not (text.isascii() and text.isdigit()):
            raise serializers.ValidationError(f"`{self.field_name}` must be integer nanoseconds")
        try:
            return timestamps.parse(text)  # digits only here: integer nanoseconds, bounded
        except timestamps.TimestampError as exc:
            raise serializers.ValidationError(f"`{self.field_name}` {exc}") from None

    def to_representation(self, value: dt.datetime) -> int:
        return to_ns(value)


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string", "pattern": r"^\S+$"}]})
class ReadingField(serializers.Field):
    """A measured value: a JSON number or a numeric string (old collectors send both)."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            raise serializers.ValidationError(f"must be a number, not {type(data).__name__}")
        try:
            value = float(data)
        except (ValueError, OverflowError):
            if isinstance(data, int):  # never str() it: past 4300 digits that raises too
                raise serializers.ValidationError("is too large for a float") from None
            raise serializers.ValidationError(f"{str(data)[:50]!r} is not a number") from None
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a finite number")
        return value

    def to_representation(self, value: float) -> float:
        return value


class LegacyStartSerializer(serializers.Serializer):
    scenario = NameField()
    step = NameField()
    time = NanosecondsField(
        required=False, help_text="EnergyLab extension: when it started (default: now)."
    )


class LegacyStepSerializer(serializers.Serializer):
    step = NameField()
    time = NanosecondsField(required=False, help_text="EnergyLab extension (default: now).")


class LegacyTimeQuerySerializer(serializers.Serializer):
    time = NanosecondsField(required=False)


class LegacyScenarioSerializer(serializers.Serializer):
    environment = serializers.CharField()
    scenario = serializers.CharField()
    step = serializers.CharField(allow_null=True)


class LegacyStartedSerializer(LegacyScenarioSerializer):
    """A start's answer: the contract's three fields, and whether the start created the pod
    (an extra field, which the contract's clients ignore) with the known pods closest to it."""

    pod_created = serializers.BooleanField()
    similar_pods = serializers.ListField(child=serializers.CharField())


class StatusSerializer(serializers.Serializer):
    status = serializers.CharField()


class PushAnswerSerializer(StatusSerializer):
    received = serializers.IntegerField(help_text="Measurements in the body.")
    new = serializers.IntegerField(
        help_text="Measurements not received before (same server, sensor and time to the "
        "nanosecond): a resent body counts 0."
    )


def topology_field() -> serializers.CharField:
    # The server's topology is updated with .update(), which skips the model's validators:
    # they are repeated here (a line break would end up in InfluxDB's line protocol).
    return serializers.CharField(
        required=False, allow_blank=True, max_length=100, validators=[validate_topology]
    )


class TopologySerializer(serializers.Serializer):
    dc = topology_field()
    room = topology_field()
    row = topology_field()
    rack = topology_field()


class MeasurementSerializer(serializers.Serializer):
    sensor = NameField(required=False, default="power", max_length=100)
    unit = NameField(required=False, default="W", max_length=32)
    value = ReadingField(
        help_text="Power (sensor `power` or unit `W`): 0 to 10 MW; other sensors: at most 1e9 "
        "either way."
    )
    time = NanosecondsField(required=False, help_text="Nanoseconds (default: now).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The bound depends on the sensor and unit, hence here and not in ReadingField.
        error = limits.reading_error(attrs["sensor"], attrs["unit"], attrs["value"])
        if error is not None:
            raise serializers.ValidationError({"value": [error]})
        return attrs


class MeasurementsSerializer(serializers.Serializer):
    environment = NameField()
    topology = TopologySerializer(required=False)
    # A ListField (not many=True) reports errors by index: {"measurements": {"3": {"value": ..}}}.
    measurements = serializers.ListField(child=MeasurementSerializer(), max_length=100_000)


class ConsumptionSerializer(serializers.Serializer):
    environment = NameField()
    power = ReadingField(help_text="Watts, 0 to 10 MW.")
    time = NanosecondsField(required=False, help_text="Nanoseconds (default: now).")

    def validate_power(self, value: float) -> float:
        error = limits.power_error(value)
        if error is not None:
            raise serializers.ValidationError(error)
        return value
