"""The event-time serializer field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from energylab.timestamps import rfc3339
from events import timestamps


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "date-time"},
            {"type": "integer", "minimum": 946_684_800_000_000_000},
            {"type": "string", "pattern": "^[0-9]+$"},
        ],
        "description": "RFC 3339 with a UTC offset, or integer nanoseconds since the epoch "
        "(a JSON integer or a string of digits). At most five minutes ahead of the server.",
    }
)
class TimestampField(serializers.Field):
    """An event time (:func:`events.timestamps.parse`); answers in RFC 3339 UTC."""

    def to_internal_value(self, data: Any) -> dt.datetime:
        try:
            return timestamps.parse(data)
        except timestamps.TimestampError as exc:
            raise serializers.ValidationError(f"`{self.field_name}` {exc}") from None

    def to_representation(self, value: dt.datetime) -> str:
        return rfc3339(value)
