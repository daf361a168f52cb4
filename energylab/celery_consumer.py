"""The worker's broker consumer, reconnecting to Redis within a fraction of a second.

Celery's consumer reconnects with kombu's default intervals: 2 s, then 2 s more at each attempt
(2, 4, 6, 8 s between attempts), so a 5 s Redis outage stopped polling for up to 13.6 s.
Celery 5.5-5.7 has no setting for them (``Consumer.ensure_connected`` calls
``Connection.ensure_connection`` without intervals); this subclass, selected by the
``worker_consumer`` setting, passes them. A refused connection fails at once, so frequent
attempts cost nothing while Redis is away.

It also keeps the worker alive when tearing down the lost connection fails. Celery's
``on_connection_error_after_connected`` first ``collect()``s the connection, which closes its
transport even when closing the default channel failed half way (a BRPOP in flight to the dead
Redis), then ``close()``s it: kombu closes that channel a second time, and restoring the
unacknowledged messages now asks the closed transport for its URL, an ``AttributeError``
kombu's ``ignore_errors`` lets through. The worker died on it after a Redis restart, and
polling stopped for good. The messages it could not restore are lost with Redis's memory, or
restored by kombu's visibility timeout from a Redis that kept them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger(__name__)

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

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        if self.connection is not None:
            self.connection.close = functools.partial(_close_lost, self.connection.close)
        super().on_connection_error_after_connected(exc)


def _close_lost(close: Callable[[], Any]) -> None:
    """Close a connection to a broker that went away, whatever kombu's teardown trips on."""
    try:
        close()
    except AttributeError as error:
        logger.warning("lost broker connection dropped without a clean close: %s", error)
