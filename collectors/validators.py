"""What a server's free-text fields may hold.

Topology labels become InfluxDB tag values, where a line break ends the point and corrupts the
batch it was written in. A BMC's host goes into URLs and sockets, where a space, a line break, a
bad port or a half-written IPv6 URL fails every poll, forever, instead of once at registration.
Both are checked where they enter, with a message naming the field.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from energylab.validators import control_character_in, validate_printable

URL_SCHEMES = ("http", "https")
# Characters a bare host name or address never holds: they belong to URLs (or to credentials).
_NOT_IN_A_BARE_HOST = set("/?#@[]")


def validate_topology(value: str) -> None:
    """A data centre, room, row or rack: any printable text (blank too), no control characters."""
    validate_printable(value)


def validate_host(value: str) -> None:
    """A BMC address: a host name or IP address, or an ``http(s)://`` URL with a host.

    Blank passes (a push server has none; :meth:`Server.clean` asks polled servers for one).
    """
    if value == "":
        return
    if control_character_in(value) is not None or any(c.isspace() for c in value):
        raise ValidationError(
            "may not contain spaces or control characters", code="host_whitespace"
        )
    if "://" in value:
        _validate_url(value)
        return
    if _NOT_IN_A_BARE_HOST.intersection(value):
        raise ValidationError(
            "must be a host name or an IP address, or an http:// or https:// URL",
            code="host_invalid",
        )
    if ":" in value:
        # A bare IPv6 address has colons; "name:port" is refused: the port has its own field,
        # and the drivers would take "name:port" for a host name and fail every poll.
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise ValidationError(
                "give the port in the port field (or write a URL: https://name:port)",
                code="host_port",
            ) from None


def _validate_url(value: str) -> None:
    try:
        parts = urlsplit(value)
        port = parts.port  # raises for a port out of 0-65535 or not a number
    except ValueError as exc:  # e.g. "Invalid IPv6 URL", "Port out of range 0-65535"
        raise ValidationError(
            "is not a valid URL: %(reason)s", code="host_url", params={"reason": exc}
        ) from None
    if parts.scheme not in URL_SCHEMES or not parts.hostname:
        raise ValidationError("a URL must be http:// or https:// with a host", code="host_url")
    if parts.username is not None or parts.password is not None:
        # The host is shown by the API and the admin; the password field is the write-only one.
        raise ValidationError(
            "may not hold credentials: use the username and password fields", code="host_url"
        )
    if port == 0:
        raise ValidationError("the URL's port must be 1-65535", code="host_url")
