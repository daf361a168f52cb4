"""A reader of InfluxDB 1.x line protocol: ``measurement[,tag=value...] field=value[,...] [time]``.

Why not a library: ``line-protocol-parser`` (the one maintained reader on PyPI) keeps ``\\\\`` as
two backslashes and refuses a tag value that ends in an escaped backslash (``a\\\\,b=c``), so
names written by the ``influxdb`` client (which doubles every backslash) would not come back as
they were sent, and its errors do not say where a line went wrong. The ``influxdb`` package has
only a writer.

Escaping, as InfluxDB's line protocol reference gives it:

- measurement, tag keys, tag values and field keys: a backslash escapes ``,``, ``=``, a space
  and a backslash (two contiguous backslashes are one); before any other character it is
  itself (``a\\b`` is ``a\\b``). ``=`` needs no escape in a measurement, but an escaped one is
  read too.
- string field values are in double quotes; ``\\"`` is a quote and ``\\\\`` a backslash.
- field values: floats (``1``, ``-1.5``, ``1e3``), integers ``12i``, unsigned ``12u``,
  booleans (``t``, ``T``, ``true``, ``True``, ``TRUE`` and the same for false), strings.
  ``NaN`` and infinities are refused (InfluxDB refuses them too).
- the timestamp is an integer in the request's precision; without one the point is "now".
- blank lines and lines starting with ``#`` are skipped.

:func:`parse` reads a whole body before anything is stored, so a body with one bad line is
refused whole; its error names every bad line (up to :data:`MAX_ERRORS`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["FieldValue", "LineError", "LineProtocolError", "Point", "parse"]

FieldValue = float | int | bool | str

MAX_ERRORS = 10  # bad lines named in one answer; the rest are counted
MAX_SHOWN = 200  # characters of a bad line quoted in its error

# One name: characters that do not end it, or a backslash and the character it escapes.
_KEY = r"(?:[^,= \\]|\\.)+"
_MEASUREMENT = re.compile(r"(?:[^, \\]|\\.)+")
_TAG = re.compile(rf",({_KEY})=({_KEY})")
_FIELD_KEY = re.compile(rf"({_KEY})=")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_BARE = re.compile(r"[^,\s]+")
_TIMESTAMP = re.compile(r" (-?\d+)$")
_UNESCAPE_NAME = re.compile(r"\\([,= \\])")
_UNESCAPE_STRING = re.compile(r'\\(["\\])')
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"([+-]?\d+)([iu])")
_BOOLEANS = {
    **dict.fromkeys(("t", "T", "true", "True", "TRUE"), True),
    **dict.fromkeys(("f", "F", "false", "False", "FALSE"), False),
}
_MAX_INT_DIGITS = 20  # 2^64 has 20 digits: longer is out of range before int() reads it


class Point(NamedTuple):
    """One point as written; ``time`` is in the request's precision, None when not given.
    ``line`` and ``text`` are its line number in the body (from 1) and the line, for errors
    about it later."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time: int | None
    line: int = 0
    text: str = ""


class LineError(ValueError):
    """One line that cannot be read (or used): its number, its text and why.

    Its message starts with InfluxDB's ``unable to parse`` whatever the reason, a point that
    cannot be stored included: Telegraf drops a batch refused with those words (and logs it), and
    retries any other refusal forever, which no retry of a bad point can end."""

    def __init__(self, number: int, text: str, reason: str) -> None:
        self.number, self.text, self.reason = number, text, reason
        shown = text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"
        super().__init__(f"unable to parse line {number} {shown!r}: {reason}")


class LineProtocolError(ValueError):
    """A body with bad lines; the message names each, one a line (as InfluxDB's does)."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        shown = [str(error) for error in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            shown.append(f"(and {len(errors) - MAX_ERRORS} more bad lines)")
        super().__init__("\n".join(shown))


def parse(body: str) -> list[Point]:
    """Every point of ``body``, in order.

    :raises LineProtocolError: a line is malformed; no point is returned then.
    """
    points: list[Point] = []
    errors: list[LineError] = []
    for number, raw in enumerate(body.split("\n"), start=1):
        text = raw.lstrip(" \t").removesuffix("\r")
        if not text or text.startswith("#"):
            continue
        try:
            points.append(parse_line(text, number))
        except LineError as exc:
            errors.append(exc)
    if errors:
        raise LineProtocolError(errors)
    return points


def parse_line(text: str, number: int = 1) -> Point:
    """The point of one line (no line break in it).

    :raises LineError: the line is malformed; the reason says where.
    """
    match = _MEASUREMENT.match(text)
    if match is None:
        raise LineError(number, text, "missing measurement")
    measurement = _name(match.group())
    pos = match.end()
    tags: dict[str, str] = {}
    while pos < len(text) and text[pos] == ",":
        tag = _TAG.match(text, pos)
        if tag is None:
            raise LineError(number, text, f"bad tag at character {pos + 2} (tag=value expected)")
        tags[_name(tag.group(1))] = _name(tag.group(2))
        pos = tag.end()
    if pos >= len(text) or text[pos] != " ":
        raise LineError(number, text, "missing fields")
    pos += 1
    fields: dict[str, FieldValue] = {}
    while True:
        key = _FIELD_KEY.match(text, pos)
        if key is None:
            raise LineError(number, text, f"bad field at character {pos + 1} (key=value expected)")
        pos = key.end()
        value, pos = _field_value(text, pos, number)
        fields[_name(key.group(1))] = value
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    timestamp = None
    if pos < len(text):
        stamp = _TIMESTAMP.match(text, pos)
        if stamp is None:
            raise LineError(
                number, text, f"unexpected text at character {pos + 1} (a timestamp expected)"
            )
        digits = stamp.group(1)
        if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
            raise LineError(number, text, "timestamp out of range")
        timestamp = int(digits)
    return Point(measurement, tags, fields, timestamp, number, text)


def _name(escaped: str) -> str:
    return _UNESCAPE_NAME.sub(r"\1", escaped) if "\\" in escaped else escaped


def _field_value(text: str, pos: int, number: int) -> tuple[FieldValue, int]:
    """The field value starting at ``pos``, and the position after it."""
    if text.startswith('"', pos):
        quoted = _STRING.match(text, pos)
        if quoted is None:
            raise LineError(number, text, f"unterminated string at character {pos + 1}")
        value = quoted.group(1)
        return (_UNESCAPE_STRING.sub(r"\1", value) if "\\" in value else value), quoted.end()
    bare = _BARE.match(text, pos)
    if bare is None:
        raise LineError(number, text, f"missing field value at character {pos + 1}")
    token = bare.group()
    if _FLOAT.fullmatch(token):
        return float(token), bare.end()
    integer = _INTEGER.fullmatch(token)
    if integer is not None:
        digits, kind = integer.groups()
        if len(digits.lstrip("+-")) > _MAX_INT_DIGITS:
            raise LineError(number, text, f"integer {token[:30]!r} out of range")
        value = int(digits)
        if not (0 <= value < 2**64 if kind == "u" else -(2**63) <= value < 2**63):
            raise LineError(number, text, f"integer {token!r} out of range")
        return value, bare.end()
    if token in _BOOLEANS:
        return _BOOLEANS[token], bare.end()
    raise LineError(number, text, f"invalid field value {token[:30]!r} at character {pos + 1}")
