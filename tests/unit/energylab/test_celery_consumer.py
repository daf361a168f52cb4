"""The worker reconnects to the broker every RECONNECT_EVERY_S, not after 2, 4, 6... s."""

from __future__ import annotations

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
