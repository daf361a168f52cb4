"""The writer's check for ``/healthz``: samples do not wait in the buffer much past the delay."""

from __future__ import annotations

from django.conf import settings

from energylab.health import TIMEOUT_S, HealthCheckFailed
from energylab.redis_client import redis_client
from events.ingest.buffer import SampleBuffer


def writer_lag() -> dict[str, object]:
    """How long the oldest buffered sample has waited, against what is allowed.

    A sample waits ``ENERGYLAB_CORRELATION_DELAY`` on purpose, then a writer pass (about a
    second). Past the delay plus ``ENERGYLAB_HEALTH_MAX_WRITER_LAG``, no writer runs (no worker
    on the ``writer`` queue, no beat), or InfluxDB refuses or does not answer.

    :raises HealthCheckFailed: the oldest sample waits longer than that.
    """
    buffer = SampleBuffer(
        redis_client(TIMEOUT_S, TIMEOUT_S), settings.BUFFER_MAX_SAMPLES, settings.REDIS_KEY_PREFIX
    )
    age = buffer.oldest_age()
    allowed = settings.CORRELATION_DELAY + settings.HEALTH_MAX_WRITER_LAG
    if age is not None and age > allowed:
        raise HealthCheckFailed(
            f"the oldest buffered sample has waited {age:.0f} s (allowed {allowed:g} s): "
            "no writer runs, or InfluxDB refuses the writes"
        )
    return {"oldest_sample_waiting_s": round(age or 0.0, 1), "allowed_s": allowed}
