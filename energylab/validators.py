"""Validators shared by every app."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

# Names become InfluxDB tag values, which cannot hold line breaks; other control characters
# would make them unreadable anywhere they show. Everything printable is welcome, stored as sent.
_REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}

#: longest name of a pod, server, scenario or step (characters)
NAME_MAX_LENGTH = 200


def control_character_in(value: str) -> str | None:
    """The first character of ``value`` that a name may not hold, or None."""
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return char
    return None


def validate_name(value: str) -> None:
    """Refuse empty names and names with control characters (newline, tab, NUL, ...)."""
    if value == "":
        raise ValidationError("may not be empty", code="blank")
    validate_printable(value)


def validate_printable(value: str) -> None:
    """Refuse text with control characters (newline, tab, NUL, ...); blank passes."""
    bad = control_character_in(value)
    if bad is not None:
        raise ValidationError(
            "may not contain control characters (found U+%(code)04X)",
            code="control_character",
            params={"code": ord(bad)},
        )
