"""Shelly smart plugs over their local HTTP API (requests).

* Gen1 (Shelly Plug, Plug S, 1PM): ``GET /status``, ``meters[channel].power`` in W; HTTP Basic
  authentication when the plug has a login.
* Gen2 and later (Plus/Pro/Gen3/Gen4 plugs and switches): ``GET /rpc/Switch.GetStatus?id=N``,
  ``apower`` in W; HTTP Digest authentication (SHA-256), user
  ``admin`` whatever the server's user name says, as Shelly defines it.

The plugs' energy counters are not used as the reading's ``energy_j``: Gen1 counts whole
watt-minutes (60 J), Gen2 thousandths of a Wh (3.6 J), both coarse next to a CI step of a small
load (40 W for 12 s is 480 J), and reports prefer a counter over the watts when there is one.

The generation comes from the settings, or else from the plug's own ``/shelly`` (unauthenticated
on every generation: Gen2+ answer ``gen``), asked once per plug and remembered.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from collectors.drivers.base import (
    BMCAuthFailed,
    BMCEndpoint,
    BMCProtocolError,
    BMCSettingsError,
    BMCUnreachable,
    PowerDriver,
    PowerReading,
    PowerUnsupported,
)
from collectors.source_settings import SourceSettingsError, parse_shelly

GEN2_USER = "admin"  # Shelly Gen2+ has one user, always named admin


class ShellyDriver(PowerDriver):
    """Reads power from Shelly plugs."""

    bmc_type = "shelly"

    def __init__(self) -> None:
        self._generations: dict[tuple[str, int | None, str, str | None], int] = {}
        self._lock = threading.Lock()

    def read_power(self, endpoint: BMCEndpoint) -> PowerReading:
        try:
            settings = parse_shelly(endpoint.options)
        except SourceSettingsError as exc:
            raise BMCSettingsError(f"source settings: {exc}") from None
        generation = settings.generation or self._generation(endpoint)
        channel = settings.channel
        read_at_ns = time.time_ns()
        if generation == 1:
            status = self._get(endpoint, "/status", HTTPBasicAuth)
            meters = status.get("meters")
            if not isinstance(meters, list) or len(meters) <= channel:
                raise PowerUnsupported(f"the plug's /status has no meters[{channel}]")
            meter = meters[channel]
            watts = _number(meter, "power", f"meters[{channel}].power")
            return PowerReading(watts, read_at_ns, "shelly:gen1")
        status = self._get(endpoint, f"/rpc/Switch.GetStatus?id={channel}", HTTPDigestAuth)
        watts = _number(status, "apower", f"Switch:{channel}.apower")
        return PowerReading(watts, read_at_ns, f"shelly:gen{generation}")

    def forget(self, endpoint: BMCEndpoint) -> None:
        with self._lock:
            self._generations.pop(endpoint.session_key, None)

    def _generation(self, endpoint: BMCEndpoint) -> int:
        with self._lock:
            known = self._generations.get(endpoint.session_key)
        if known is not None:
            return known
        info = self._get(endpoint, "/shelly", None)
        generation = info.get("gen", 1)
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise BMCProtocolError(f"the plug's /shelly says gen {generation!r}")
        with self._lock:
            self._generations[endpoint.session_key] = generation
        return generation

    def _get(
        self,
        endpoint: BMCEndpoint,
        path: str,
        auth_kind: type[HTTPBasicAuth] | type[HTTPDigestAuth] | None,
    ) -> Any:
        scheme = endpoint.scheme or "http"
        netloc = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        if endpoint.port:
            netloc += f":{endpoint.port}"
        auth: AuthBase | None = None
        if auth_kind is not None and endpoint.password:
            user = GEN2_USER if auth_kind is HTTPDigestAuth else endpoint.username
            auth = auth_kind(user, endpoint.password)
        try:
            response = requests.get(
                f"{scheme}://{netloc}{path}",
                auth=auth,
                timeout=endpoint.timeout,
                verify=endpoint.verify_tls,
            )
        except requests.RequestException as exc:
            raise BMCUnreachable(f"{scheme}://{netloc}: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise BMCAuthFailed(f"the plug refused the credentials at {path}")
        if response.status_code == 404:
            raise PowerUnsupported(f"the plug has no {path} (HTTP 404)")
        if response.status_code != 200:
            raise BMCProtocolError(f"the plug answered HTTP {response.status_code} at {path}")
        try:
            body = response.json()
        except ValueError:
            raise BMCProtocolError(f"the plug's {path} is not JSON") from None
        if not isinstance(body, dict):
            raise BMCProtocolError(f"the plug's {path} is not a JSON object")
        return body


def _number(data: dict[str, Any], key: str, label: str) -> float:
    value = data.get(key)
    if value is None:
        raise PowerUnsupported(f"the plug reports no {label}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BMCProtocolError(f"the plug's {label} is {value!r}, not a number")
    return float(value)
