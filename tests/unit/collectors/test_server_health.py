"""A server's health: stale once nothing polled it for 3 intervals, whatever its last outcome."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from collectors import health
from collectors.health import PollState

T0 = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
FRESH = PollState(
    active=True,
    pod_active=True,
    polled=True,
    poll_interval=10.0,
    created=T0,
    last_success_at=None,
    last_error_at=None,
    backoff_until=None,
    consecutive_failures=0,
)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_new_server_is_not_polled_yet_then_stale_after_three_intervals() -> None:
    assert health.health(FRESH, at(29)) == health.NOT_POLLED_YET
    assert health.health(FRESH, at(31)) == health.STALE


def test_an_ok_server_that_nothing_polls_any_more_turns_stale() -> None:
    polled = replace(FRESH, last_success_at=at(100))
    assert health.health(polled, at(125)) == health.OK
    assert health.health(polled, at(131)) == health.STALE


def test_failures_show_until_the_server_is_stale() -> None:
    failing = replace(FRESH, last_error_at=at(50), consecutive_failures=2)
    assert health.health(failing, at(60)) == health.FAILING
    open_circuit = replace(failing, consecutive_failures=5)
    assert health.health(open_circuit, at(60)) == health.CIRCUIT_OPEN
    assert health.health(open_circuit, at(81)) == health.STALE


def test_a_server_waiting_out_its_back_off_is_not_stale() -> None:
    waiting = replace(FRESH, last_error_at=at(0), consecutive_failures=5, backoff_until=at(300))
    assert health.health(waiting, at(320)) == health.CIRCUIT_OPEN
    assert health.health(waiting, at(331)) == health.STALE


def test_inactive_and_pushing_servers_are_never_stale() -> None:
    assert health.health(replace(FRESH, active=False), at(10**6)) == health.INACTIVE
    assert health.health(replace(FRESH, pod_active=False), at(10**6)) == health.INACTIVE
    assert health.health(replace(FRESH, polled=False), at(10**6)) == health.PUSHED


def test_a_healthy_row_written_every_refresh_is_stale_only_after_refresh_and_three_intervals() -> (
    None
):
    healthy = replace(FRESH, last_success_at=at(100), success_refresh_s=30)
    assert health.health(healthy, at(159)) == health.OK
    assert health.health(healthy, at(161)) == health.STALE


def test_the_pods_poll_heartbeat_keeps_its_servers_fresh() -> None:
    healthy = replace(FRESH, last_success_at=at(100), success_refresh_s=30, pod_polled_at=at(200))
    assert health.health(healthy, at(229)) == health.OK
    assert health.health(healthy, at(231)) == health.STALE
