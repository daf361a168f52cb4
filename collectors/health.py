"""A server's health as people and monitoring see it: one rule for the admin, the API and
``/metrics``.

``stale`` is the state no poll outcome can report: a server that nothing polls (no worker reads
its pod's queue, beat is down) keeps the last outcome it had, often ``ok``. A server is stale when
the last sign of a poll (a worker taking its pod's poll task, :mod:`collectors.heartbeats`; its
last failure; its last success, which a healthy row records only every
``ENERGYLAB_POLL_HEALTH_INTERVAL``), or its creation if it never had one, or the end of its
back-off if it waits out one, is more than :data:`STALE_INTERVALS` poll intervals ago.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from collectors.timing import CIRCUIT_THRESHOLD

#: poll intervals without an attempt after which a polled server is stale
STALE_INTERVALS = 3

INACTIVE = "inactive"  # the server or its pod is inactive: nothing polls it, on purpose
PUSHED = "push"  # it sends its own measurements: nothing to poll
NOT_POLLED_YET = "not polled yet"
OK = "ok"
FAILING = "failing"
CIRCUIT_OPEN = "circuit open"
STALE = "stale"
STATES = (INACTIVE, PUSHED, NOT_POLLED_YET, OK, FAILING, CIRCUIT_OPEN, STALE)


@dataclass(frozen=True)
class PollState:
    """What the health of a server is judged on (its row and its pod's)."""

    active: bool
    pod_active: bool
    polled: bool
    poll_interval: float
    created: dt.datetime
    last_success_at: dt.datetime | None
    last_error_at: dt.datetime | None
    backoff_until: dt.datetime | None
    consecutive_failures: int
    #: when a worker last took a poll task of the server's pod (None: unknown)
    pod_polled_at: dt.datetime | None = None
    #: seconds between two writes of a healthy server's row (ENERGYLAB_POLL_HEALTH_INTERVAL)
    success_refresh_s: float = 0.0


def expected_by(state: PollState) -> dt.datetime:
    """When the next poll was due at the latest: after this, the server is stale."""
    success = state.last_success_at
    moments = [
        state.created,
        state.pod_polled_at,
        state.last_error_at,
        state.backoff_until,
        # A healthy row is rewritten only every success_refresh_s: it may be that old.
        None if success is None else success + dt.timedelta(seconds=state.success_refresh_s),
    ]
    latest = max(m for m in moments if m is not None)
    return latest + dt.timedelta(seconds=STALE_INTERVALS * state.poll_interval)


def health(state: PollState, now: dt.datetime) -> str:
    """One of :data:`STATES`; ``stale`` wins over the last outcome, which it makes old news."""
    if not state.polled:
        return PUSHED
    if not (state.active and state.pod_active):
        return INACTIVE
    if now > expected_by(state):
        return STALE
    if state.consecutive_failures >= CIRCUIT_THRESHOLD:
        return CIRCUIT_OPEN
    if state.consecutive_failures:
        return FAILING
    return OK if state.last_success_at else NOT_POLLED_YET
