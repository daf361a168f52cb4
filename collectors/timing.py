"""How long a poll may take, and how long a failing server waits before it is polled again.

A failure backs the server off exponentially (capped at :data:`MAX_BACKOFF_S`); after
:data:`CIRCUIT_THRESHOLD` failures in a row the circuit is open: the server is only probed once
per :data:`MAX_BACKOFF_S` until it answers again. Plain arithmetic, so that the poller, the
admin, the metrics and the ingest pipeline's settling all read the same rules without importing
the poller.
"""

from __future__ import annotations

MAX_BACKOFF_S = 300.0
CIRCUIT_THRESHOLD = 5


def read_timeout(poll_interval: float) -> float:
    """Per-request timeout: within the poll interval, never less than half a second."""
    return max(0.5, min(5.0, poll_interval * 0.8))


def backoff_delay(consecutive_failures: int, poll_interval: float) -> float:
    """Seconds to wait before polling a server that failed this many times in a row."""
    if consecutive_failures <= 0:
        return 0.0
    if consecutive_failures >= CIRCUIT_THRESHOLD:
        return MAX_BACKOFF_S
    return float(min(MAX_BACKOFF_S, poll_interval * 2 ** (consecutive_failures - 1)))
