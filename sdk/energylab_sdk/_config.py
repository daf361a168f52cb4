"""Settings: explicit argument, then ENERGYLAB_* variables, then the old Functest variables."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import _provenance

logger = logging.getLogger("energylab_sdk")

NATIVE = "native"
LEGACY = "legacy"

DEFAULT_FLUSH_TIMEOUT = 2.0
DEFAULT_HTTP_TIMEOUT = 2.0
DEFAULT_QUEUE_SIZE = 10_000


class _Unset:
    """Type of UNSET: "not given", as opposed to an explicit None."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()

# Each setting: the variables read when no explicit value is given, first found wins.
ENV_VARS = {
    "url": ("ENERGYLAB_API_URL", "ENERGY_RECORDER_API_URL"),
    "pod": ("ENERGYLAB_POD", "NODE_NAME"),
    "token": ("ENERGYLAB_API_TOKEN",),
    "user": ("ENERGYLAB_API_USER", "ENERGY_RECORDER_API_USER"),
    "password": ("ENERGYLAB_API_PASSWORD", "ENERGY_RECORDER_API_PASSWORD"),
    "flush_timeout": ("ENERGYLAB_FLUSH_TIMEOUT",),
    "timeout": ("ENERGYLAB_HTTP_TIMEOUT",),
    "queue_size": ("ENERGYLAB_QUEUE_SIZE",),
}


@dataclass(frozen=True)
class Config:
    """Resolved settings. ``base_url`` is None when the SDK is off (no URL, or a bad one)."""

    base_url: str | None = None
    protocol: str = NATIVE
    pod: str | None = None
    token: str | None = None
    user: str | None = None
    password: str | None = None
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT
    timeout: float = DEFAULT_HTTP_TIMEOUT
    queue_size: int = DEFAULT_QUEUE_SIZE
    source: str = "sdk"  # what the server records as the run's source: "sdk" or "cli"
    # Sent with every start event (native protocol): commit, branch, ci_url, ci_system, build,
    # labels, as far as known (_provenance.resolve).
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.base_url is not None


def normalize_url(url: str) -> tuple[str, str]:
    """Return ``(base_url, protocol)`` for a configured URL.

    A server root gets ``/api/v1`` appended (native); a URL ending in ``/api/v1`` is native
    as is; one ending in ``/resources`` is an old energy recorder (legacy protocol).

    :raises ValueError: not an http(s) URL with a host.
    """
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"URL must not carry a query or fragment: {url!r}")
    try:
        parts.port  # noqa: B018 - urllib checks the port only when it is read
    except ValueError:
        raise ValueError(f"bad port in URL {url!r} (0-65535)") from None
    if parts.path.endswith("/resources"):
        return url, LEGACY
    if parts.path.endswith("/api/v1"):
        return url, NATIVE
    return url + "/api/v1", NATIVE


def _from_env(name: str, environ: Mapping[str, str]) -> str | None:
    for var in ENV_VARS[name]:
        value = environ.get(var, "").strip()
        if value:
            return value
    return None


def _number(name: str, explicit: Any, default: float, environ: Mapping[str, str]) -> float:
    raw: Any = explicit if explicit is not UNSET else _from_env(name, environ)
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        logger.warning("energylab: ignoring %s=%r (not a number); using %s", name, raw, default)
        return default
    if not value > 0 or value == float("inf"):
        logger.warning("energylab: ignoring %s=%r (must be > 0); using %s", name, raw, default)
        return default
    return value


def resolve(
    url: Any = UNSET,
    pod: Any = UNSET,
    token: Any = UNSET,
    user: Any = UNSET,
    password: Any = UNSET,
    flush_timeout: Any = UNSET,
    timeout: Any = UNSET,
    queue_size: Any = UNSET,
    source: str = "sdk",
    environ: Mapping[str, str] | None = None,
    **provenance: Any,
) -> Config:
    """Resolve settings; never raises. A bad value is logged and replaced by its default.

    ``provenance`` takes ``commit``, ``branch``, ``ci_url``, ``ci_system``, ``build`` and
    ``labels`` (UNSET: from the environment, see :mod:`._provenance`).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ

    def pick(name: str, explicit: Any) -> str | None:
        if explicit is UNSET:
            return _from_env(name, env)
        if explicit is None:
            return None
        return str(explicit).strip() or None

    raw_url = pick("url", url)
    base_url: str | None = None
    protocol = NATIVE
    if raw_url is None:
        logger.debug("energylab: no API URL configured; recording is off")
    else:
        try:
            base_url, protocol = normalize_url(raw_url)
        except ValueError as exc:
            logger.warning("energylab: bad API URL, recording is off: %s", exc)
    return Config(
        base_url=base_url,
        protocol=protocol,
        pod=pick("pod", pod),
        token=pick("token", token),
        user=pick("user", user),
        password=pick("password", password),
        flush_timeout=_number("flush_timeout", flush_timeout, DEFAULT_FLUSH_TIMEOUT, env),
        timeout=_number("timeout", timeout, DEFAULT_HTTP_TIMEOUT, env),
        queue_size=max(1, int(_number("queue_size", queue_size, DEFAULT_QUEUE_SIZE, env))),
        source=source,
        provenance=_resolve_provenance(provenance, environ) if base_url is not None else {},
    )


def _resolve_provenance(
    given: Mapping[str, Any], environ: Mapping[str, str] | None
) -> dict[str, Any]:
    unknown = sorted(set(given) - set(_provenance.FIELDS))
    if unknown:
        logger.warning("energylab: ignoring unknown setting(s) %s", ", ".join(unknown))
    explicit = {k: v for k, v in given.items() if k in _provenance.FIELDS and v is not UNSET}
    return _provenance.resolve(explicit, environ)
