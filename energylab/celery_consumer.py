"""The worker's broker consumer, reconnecting to Redis within a fraction of a second.

Celery's consumer reconnects with kombu's default intervals: 2 s, then 2 s more at each attempt
(2, 4, 6, 8 s between attempts), so a 5 s Redis outage stopped polling for up to 13.6 s.
Celery 5.5-5.7 has no setting for them (``Consumer.ensure_connected`` calls
``Connection.ensure_connection`` without intervals); this subclass, selected by the
``worker_consumer`` setting, passes them. A refused connection fails at once, so frequent
attempts cost nothing while Redis is away.
"""

from __future__ import annotations

import functools
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

#: seconds between two attempts to reach the broker again
RECONNECT_EVERY_S = 0.25


class Consumer(CeleryConsumer):
    def ensure_connected(self, conn: Any) -> Any:
        conn.ensure_connection = functools.partial(
            conn.ensure_connection,
            interval_start=RECONNECT_EVERY_S,
            interval_step=0,
            interval_max=RECONNECT_EVERY_S,
        )
        return super().ensure_connected(conn)
