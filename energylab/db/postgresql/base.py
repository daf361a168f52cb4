"""Django's PostgreSQL backend, with a health check that does not ask the server.

With CONN_HEALTH_CHECKS, Django checks a kept connection before its first use in each request by
sending ``SELECT 1``: one round trip per request, as many as the whole step event costs
(measured: a third of the web server's database waits, each a context switch on a busy machine).
A server that ends a connection (a restart, ``pg_terminate_backend``, an idle timeout) sends an
error and closes it, so the socket of an idle connection becomes readable; nothing else is ever
sent to an idle connection that does not LISTEN (EnergyLab never does; a rare parameter report
after a server reload only costs a reconnect). So: a connection is kept
while psycopg finds it open and idle and its socket has nothing to read. A connection lost
without a word (a cable pulled) fails on its next query, as it would an instant after
``SELECT 1`` too. After an error in a request, Django still checks with ``SELECT 1``
(``is_usable``) before keeping the connection.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


def has_nothing_to_read(fileno: int) -> bool:
    poller = select.poll()  # not select(): descriptors past 1,023
    poller.register(fileno, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is None
            or not self.health_check_enabled  # type: ignore[attr-defined]  # unknown to the stubs
            or self.health_check_done  # type: ignore[has-type]
        ):
            return
        if not self.is_open_and_idle():
            self.close()
        self.health_check_done = True

    def is_open_and_idle(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        try:
            return has_nothing_to_read(connection.fileno())
        except (OSError, ValueError):
            return False
