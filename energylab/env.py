"""Typed readers of environment variables that fail at start-up naming the variable.

Built on django-environ (which parses URLs, booleans and lists), with two things it lacks:
a ``NAME_FILE`` variant for every secret (Docker/Kubernetes secrets mounted as files), and an
error message that names the variable and says what was wrong with its value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import environ

_env = environ.Env()


class ConfigurationError(Exception):
    """A setting from the environment is missing or malformed; the message names the variable."""


def _raw(name: str) -> str | None:
    """The variable's value, or the contents of the file that ``NAME_FILE`` names."""
    file_var = f"{name}_FILE"
    if os.environ.get(file_var):
        path = Path(os.environ[file_var])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"{file_var}: cannot read {path}: {exc.strerror}") from None
    return os.environ.get(name)


def string(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = _raw(name)
    if value is None or value == "":
        if required or default is None:
            raise ConfigurationError(f"{name} is required (or {name}_FILE naming a file with it)")
        return default
    return value


def optional_string(name: str) -> str | None:
    value = _raw(name)
    return value or None


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None or value == "":
        return default
    if value not in choices:
        raise ConfigurationError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def boolean(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean (use true or false)")


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ConfigurationError(f"{name}={number} must be at least {minimum}")
    return number


def number(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        parsed = float(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a number") from None
    if minimum is not None and parsed < minimum:
        raise ConfigurationError(f"{name}={parsed} must be at least {minimum}")
    return parsed


def string_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database(name: str, default: str) -> dict[str, Any]:
    """A Django DATABASES entry from a URL (``postgres://``, ``sqlite:///``)."""
    url = _raw(name) or default
    try:
        config: dict[str, Any] = dict(_env.db_url_config(url))
    except Exception as exc:  # django-environ raises several types for bad URLs
        raise ConfigurationError(f"{name}={url!r} is not a database URL: {exc}") from None
    if config.get("ENGINE") not in SUPPORTED_DATABASE_ENGINES:
        scheme = url.split(":", 1)[0]
        raise ConfigurationError(
            f"{name}: unsupported database scheme {scheme!r} (use postgres or sqlite)"
        )
    return config


# What EnergyLab is built and tested on (its SQL for events has a PostgreSQL and a SQLite form).
SUPPORTED_DATABASE_ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")

# DRF's rate format: a count, a slash, and a period named by its first letter.
_RATE = re.compile(r"0*[1-9][0-9]*/(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)")


#: the value of a rate setting that means "no limit"
NO_LIMIT = "none"


def rate(name: str, default: str | None) -> str | None:
    """A rate limit such as ``6000/min`` (DRF's format: s, m, h or d for the period), or None
    for ``none`` (no limit; a default of None is no limit too)."""
    value = (_raw(name) or "").strip()
    if not value:
        return default
    if value.lower() == NO_LIMIT:
        return None
    if not _RATE.fullmatch(value):
        raise ConfigurationError(
            f"{name}={value!r} is not a rate: a positive count per period, e.g. 6000/min "
            f"(periods: s, min, h, day), or {NO_LIMIT}"
        )
    return value


# InfluxQL's duration literal (``30d``, ``1h30m``, ``52w``), or INF.
_INFLUX_DURATION = re.compile(r"INF|([0-9]+(ns|u|µ|ms|s|m|h|d|w))+", re.IGNORECASE)


def influx_duration(name: str, default: str) -> str:
    """A retention duration as InfluxDB takes it: ``INF`` or e.g. ``90d``."""
    value = string(name, default).strip()
    if not _INFLUX_DURATION.fullmatch(value):
        raise ConfigurationError(
            f"{name}={value!r} is not an InfluxDB duration: INF, or e.g. 90d, 52w, 1h30m"
        )
    return value


def redis_url(name: str, default: str) -> str:
    """A Redis URL (``redis://``, ``rediss://`` or ``unix://``), checked by redis-py's parser."""
    import redis

    value = string(name, default)
    try:
        redis.ConnectionPool.from_url(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={value!r} is not a Redis URL: {exc}") from None
    return value


def fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys (``manage.py generate_credentials_key`` makes one)."""
    from cryptography.fernet import Fernet

    keys = string_list(name, [])
    for index, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"{name}: key {index} of {len(keys)} is not a Fernet key (32 url-safe base64 "
                "bytes; generate one with `python manage.py generate_credentials_key`)"
            ) from None
    return keys
