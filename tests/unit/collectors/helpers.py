"""Helpers shared by the collectors' tests."""

from __future__ import annotations

from collectors.drivers.base import BMCEndpoint
from collectors.simulators.redfish import RedfishSimulator


def redfish_endpoint(sim: RedfishSimulator, **kwargs: object) -> BMCEndpoint:
    """The endpoint of a simulator, with its credentials and a 2 s timeout unless overridden."""
    values: dict[str, object] = {
        "host": sim.host,
        "port": sim.port,
        "username": sim.username,
        "password": sim.password,
        "scheme": sim.scheme,
        "timeout": 2.0,
    }
    values.update(kwargs)
    return BMCEndpoint(**values)  # type: ignore[arg-type]
