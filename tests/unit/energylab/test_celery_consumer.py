"""The worker reconnects to the broker every RECONNECT_EVERY_S, not after 2, 4, 6... s."""

from __future__ import annotations

import types
from typing import Any

from energylab.celery import app
from energylab.celery_consumer import RECONNECT_EVERY_S, Consumer


class RecordingConnection:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def ensure_connection(self, *args: Any, **kwargs: Any) -> RecordingConnection:
        self.calls.append(kwargs)
        return self


def test_the_worker_retries_the_broker_at_short_fixed_intervals() -> None:
    consumer = Consumer.__new__(Consumer)  # no worker around it: only the method under test
    consumer.app = app
    consumer.first_connection_attempt = False
    consumer.broker_connection_retry_attempt = 0
    connection = RecordingConnection()
    consumer.ensure_connected(connection)
    (kwargs,) = connection.calls
    assert kwargs["interval_start"] == kwargs["interval_max"] == RECONNECT_EVERY_S
    assert kwargs["interval_step"] == 0


def test_the_project_runs_its_consumer_and_bounds_broker_calls(settings) -> None:
    assert settings.CELERY_WORKER_CONSUMER == "energylab.celery_consumer:Consumer"
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] > 0


def test_the_apps_redis_clients_retry_a_broken_connection_once_and_never_a_timeout(
    settings,
) -> None:
    import redis

    from energylab.redis_client import redis_client

    retry = redis_client().get_retry()
    assert retry is not None
    assert retry._retries == 1
    assert redis.TimeoutError not in retry._supported_errors


class ConnectionKombuCannotClose:
    """What kombu 5.7 does when Celery closes a connection it has already collected: closing
    the default channel again asks the closed transport for its URL (the CI log of a Redis
    restart, 2026-12-05)."""

    connection_errors: tuple[type[Exception], ...] = ()
    channel_errors: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        self.collected = False

    def collect(self, socket_timeout: float | None = None) -> None:
        self.collected = True

    def close(self) -> None:
        raise AttributeError("'NoneType' object has no attribute 'hostname'")


def test_a_lost_connection_kombu_fails_to_close_is_dropped_and_the_worker_reconnects(
    caplog,
) -> None:
    consumer = Consumer.__new__(Consumer)  # no worker around it: only the method under test
    consumer.app = app
    consumer.qos_global = True
    consumer.prefetch_multiplier = 1
    consumer.pool = types.SimpleNamespace(num_processes=4)
    broken = ConnectionKombuCannotClose()
    consumer.connection = broken
    consumer.on_connection_error_after_connected(ConnectionError("Connection refused"))
    assert broken.collected
    assert consumer.connection is None  # the consumer's restart connects anew
    assert consumer.initial_prefetch_count == 4  # the rest of Celery's handling still ran
    assert "without a clean close" in caplog.text
