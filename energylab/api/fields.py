"""Serializer fields shared by every API that takes names (native and legacy)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from energylab.validators import NAME_MAX_LENGTH, validate_name


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


# Control characters (C0, DEL, C1) and the line/paragraph separators: what validate_name refuses
# among the characters a JSON generator or client may send. Python and ECMA regexes read it alike.
NAME_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"


class NameFieldExtension(OpenApiSerializerFieldExtension):
    """Tell the schema what a name accepts, so that schema-valid names are valid names."""

    target_class = NameField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(
            self.target, direction, bypass_extensions=True
        )
        schema["pattern"] = NAME_PATTERN
        if not self.target.allow_blank:
            schema["minLength"] = 1
        return schema
