"""A kept PostgreSQL connection is checked at each request without a round trip, and one the
server ended is replaced before the request uses it."""

from __future__ import annotations

import psycopg
import pytest
from django.db import close_old_connections, connection, connections
from rest_framework.test import APIClient

from energylab.api.testing import *  # noqa: F403 - fixtures
from energylab.db.postgresql.base import DatabaseWrapper, has_nothing_to_read
from energylab.testing import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def server_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def terminate(pid: int) -> None:
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        # The backend ends a moment after the call returns.
        wait_until(
            lambda: (
                not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            ),
            5,
            "the backend to end",
            every=0.01,
        )


@pytest.fixture
def health_checks() -> None:
    assert isinstance(connections["default"], DatabaseWrapper)
    connection.settings_dict["CONN_HEALTH_CHECKS"] = True
    connection.health_check_enabled = True


def test_a_connection_in_use_passes_without_a_query(
    health_checks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_pid()
    kept = connection.connection

    def no_round_trip(*args: object, **kwargs: object) -> None:
        raise AssertionError("the health check sent a query")

    monkeypatch.setattr(kept, "cursor", no_round_trip)  # where Django's check sends SELECT 1
    monkeypatch.setattr(kept, "execute", no_round_trip)
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert connection.connection is kept
    assert connection.health_check_done


def test_a_connection_the_server_ended_is_closed_by_the_check(health_checks: None) -> None:
    terminate(server_pid())
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert connection.connection is None
    assert server_pid() > 0  # a new one


def test_a_request_after_the_server_ended_the_connection_succeeds(
    health_checks: None, client: APIClient
) -> None:
    assert client.get("/api/v1/runs/").status_code == 200
    terminate(server_pid())
    # What every request starts with (Django's test client leaves it out of its requests).
    close_old_connections()
    start = {"type": "start", "pod": "p", "scenario": "s"}
    answer = client.post("/api/v1/events/", start, format="json")
    assert answer.status_code == 201, answer.content


def test_a_closed_socket_has_something_to_read() -> None:
    import socket

    left, right = socket.socketpair()
    with left, right:
        assert has_nothing_to_read(left.fileno())
        right.close()
        assert not has_nothing_to_read(left.fileno())
