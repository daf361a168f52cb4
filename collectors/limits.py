"""How large a reading may be: what a lab's sensors can physically report.

A finite but absurd value (``1e308`` W, from a typo, a broken collector or a BMC answering
garbage) is as harmful as a non-finite one: two of them overflow a run's energy to infinity and
its report can no longer be written. So every reading is bounded where it enters (the legacy
measurements API, BMC polls) and refused there, naming the field, instead of being stored.

- Power, in watts (sensor ``power``, whatever unit it says, since it is stored as watts; or any
  sensor in unit ``W``): 0 to :data:`MAX_POWER_W`. 10 MW is far above a whole lab (a rack draws
  tens of kW), and leaves room for a facility's feed; no server's input power is negative.
- Any other sensor (temperature, fan speed, volts, ...): an absolute value up to
  :data:`MAX_SENSOR_VALUE`, which no physical quantity of a lab comes near in a sensible unit.
- An energy counter in joules (some BMCs keep one): 0 to :data:`MAX_ENERGY_J`, 10 MW for a
  century.
"""

from __future__ import annotations

import math

MAX_POWER_W = 10_000_000.0
MAX_SENSOR_VALUE = 1e9
MAX_ENERGY_J = MAX_POWER_W * 100 * 365.25 * 86_400


def is_power(sensor: str, unit: str) -> bool:
    """Whether a reading is a power in watts (bounded by :data:`MAX_POWER_W`)."""
    return sensor == "power" or unit == "W"


def power_error(watts: float) -> str | None:
    """Why ``watts`` cannot be a power reading, or None."""
    if not math.isfinite(watts):
        return "must be a finite number"
    if watts < 0:
        return f"a power may not be negative ({watts:g} W)"
    if watts > MAX_POWER_W:
        return f"{watts:g} W is more than the {MAX_POWER_W:g} W a reading may be"
    return None


def reading_error(sensor: str, unit: str, value: float) -> str | None:
    """Why ``value`` cannot be a reading of ``sensor`` in ``unit``, or None."""
    if is_power(sensor, unit):
        return power_error(value)
    if not math.isfinite(value):
        return "must be a finite number"
    if abs(value) > MAX_SENSOR_VALUE:
        return f"{value:g} is beyond the ±{MAX_SENSOR_VALUE:g} a sensor reading may be"
    return None


def energy_error(joules: float) -> str | None:
    """Why ``joules`` cannot be an energy counter's value, or None."""
    if not math.isfinite(joules) or not 0 <= joules <= MAX_ENERGY_J:
        return f"{joules:g} J is not an energy counter's value (0 to {MAX_ENERGY_J:g} J)"
    return None
