"""Serializer fields shared by every API that takes names (native and legacy)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from collectors.models import NAME_MAX_LENGTH
from energylab.validators import validate_name


class NameField(serializers.CharField):
    """A pod, server, scenario or step name: any printable text, kept exactly as sent.

    Unlike DRF's CharField it does not trim whitespace (``" a "`` and ``"a"`` are two names to
    the clients that sent them) and takes only JSON strings (a number is a mistyped field).
    """

    default_error_messages = {"not_a_string": "must be a string, not {kind}"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("max_length", NAME_MAX_LENGTH)
        kwargs.setdefault("validators", [validate_name])
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string", kind=type(data).__name__)
        return super().to_internal_value(data)
