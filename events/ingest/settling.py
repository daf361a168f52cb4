"""Whether every sample a report reads has reached InfluxDB yet.

A sample travels poll → Redis buffer → writer → InfluxDB: its poll pushes it at most a read
timeout after it was measured, and the writer leaves it in the buffer for the correlation delay
(so that late events still tag it), then writes it within a pass. A report asked in the seconds
after a run ends therefore lacks its last samples, and its last step's energy would come out
low with nothing but a coverage figure to say why. The report says instead whether its figures
are final, and when they should be.

The stream is written in order and an entry leaves it only once InfluxDB has answered for it,
so "every entry pushed before T is written" is simply "the oldest entry still waiting was
pushed after T". Samples pushed through the legacy measurements API carry the client's own
times and can come at any time after; they are not waited for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis
from django.conf import settings

from collectors.timing import read_timeout
from energylab.timestamps import rfc3339
from events.ingest.buffer import SampleBuffer

# A poll pushes its samples a read timeout (plus the poller's 0.2 s) after it asked the BMCs;
# the rest covers the push itself and a busy worker.
PUSH_SLACK_S = 1.0


@dataclass(frozen=True)
class Settling:
    final: bool | None  # None: Redis did not answer, so it cannot be told
    final_after: dt.datetime | None  # about when the figures stop changing, when not final
    warning: str | None


def settling(
    needed_until: dt.datetime, poll_interval: float, now: dt.datetime, buffer: SampleBuffer
) -> Settling:
    """Whether the samples measured up to ``needed_until`` are all in InfluxDB at ``now``."""
    pushed_by = needed_until + dt.timedelta(seconds=read_timeout(poll_interval) + PUSH_SLACK_S)
    written = dt.timedelta(seconds=settings.CORRELATION_DELAY + settings.WRITER_INTERVAL)
    try:
        oldest = buffer.oldest_pushed_at()
    except redis.RedisError as exc:
        return Settling(
            None,
            None,
            "cannot tell whether the run's last samples are in InfluxDB yet "
            f"(Redis does not answer: {type(exc).__name__})",
        )
    waiting = oldest is not None and oldest <= pushed_by.timestamp()
    if now >= pushed_by and not waiting:
        return Settling(True, None, None)
    # A writer behind (InfluxDB away, a backlog) only makes this later: "about".
    final_after = _whole_second_after(max(now, pushed_by) + written)
    return Settling(
        False,
        final_after,
        "the run's last samples may not be in InfluxDB yet (samples wait "
        f"{settings.CORRELATION_DELAY:g} s in the buffer for late events): its figures can "
        f"still change until about {rfc3339(final_after)}",
    )


def _whole_second_after(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0) + dt.timedelta(seconds=1 if moment.microsecond else 0)
