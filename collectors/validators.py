"""What a server's free-text fields may hold.

Topology labels become InfluxDB tag values, where a line break ends the point and corrupts the
batch it was written in; so they are checked where they enter, with a message naming the field.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from energylab.validators import control_character_in


def validate_topology(value: str) -> None:
    """A data centre, room, row or rack: any printable text (blank too), no control characters."""
    bad = control_character_in(value)
    if bad is not None:
        raise ValidationError(
            "may not contain control characters (found U+%(code)04X)",
            code="control_character",
            params={"code": ord(bad)},
        )
