"""Serializer fields shared by every API: names (native and legacy), ids, bounded integers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers
from rest_framework.relations import PrimaryKeyRelatedField

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


# PostgreSQL's bigint: the largest id, LIMIT and OFFSET the database holds. Beyond it a query
# fails (DataError), or Django turns it into an empty result after computing the whole integer.
BIGINT_MAX = 2**63 - 1


def bounded_integer(value: object, minimum: int = 0, maximum: int = BIGINT_MAX) -> int:
    """``value`` (an ``int`` or a string of ASCII digits, maybe signed) as an int in
    ``[minimum, maximum]``.

    Never ``int()`` of a long digit string: past 4300 digits Python raises its own ValueError
    ("Exceeds the limit ... for integer string conversion", a 500 where a view did not expect
    it), and converting takes quadratic time before that. Nor of a float or a Decimal
    (``1e1000000`` as an int is a million digits, computed for seconds).

    :raises ValueError: not an integer, or out of range; the message says which, without the
        field's name (the caller's error names it).
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"must be an integer, not {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in {"+", "-"} else text
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError("must be an integer")
        # One digit more than the widest bound still compares exactly; more is out of range.
        widest = max(len(str(abs(minimum))), len(str(abs(maximum)))) + 1
        significant = digits.lstrip("0") or "0"  # int() counts leading zeros against its limit
        negative = text.startswith("-")
        if len(significant) > widest:
            side, bound = ("at least", minimum) if negative else ("at most", maximum)
            raise ValueError(f"must be {side} {bound} (it has {len(significant)} digits)")
        value = -int(significant) if negative else int(significant)
    if value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if value > maximum:
        raise ValueError(f"must be at most {maximum}")
    return value


class IdRelatedField(PrimaryKeyRelatedField):
    """A related object by its id: a JSON integer or a string of digits, within the database's
    range. DRF's field passes anything to the query: a float became an id (``1.9`` -> 1), and
    ``1e400`` (infinity once parsed) raised OverflowError, a 500."""

    default_error_messages = {"invalid_id": "is not an id: it {reason}"}

    def to_internal_value(self, data: Any) -> Any:
        try:
            pk = bounded_integer(data, minimum=1)
        except ValueError as exc:
            self.fail("invalid_id", reason=exc)
        return super().to_internal_value(pk)
