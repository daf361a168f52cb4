"""Rate limits of event and measurement endpoints (``ENERGYLAB_EVENTS_RATE`` and co.)."""

from __future__ import annotations

from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedRateThrottleFromSettings(ScopedRateThrottle):
    """DRF's ScopedRateThrottle, reading the rates at each request.

    DRF binds ``THROTTLE_RATES`` once at import, so a changed ``REST_FRAMEWORK`` setting (a test's
    override, say) would otherwise be ignored.
    """

    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        self.THROTTLE_RATES = rates
        return super().get_rate()
