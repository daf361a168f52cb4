"""Template filters that round a report's figures to what the measurement supports, as the
CLI's tables do (:mod:`energylab_sdk.report_format`: one rule for both); the JSON keeps every
digit."""

from __future__ import annotations

from django import template
from energylab_sdk import report_format

register = template.Library()


@register.filter
def watts(value: float | None) -> str:
    """Power to 0.1 W."""
    return report_format.watts(value)


@register.filter
def energy(value: float | None) -> str:
    """Energy (J, Wh) to 4 significant digits."""
    return report_format.significant(value)


@register.filter
def seconds(value: float | None) -> str:
    """A duration to the millisecond."""
    return report_format.seconds(value)


@register.filter
def percent(value: float | None) -> str:
    """A share (0..1) to 0.1 %."""
    return report_format.percent(value)
