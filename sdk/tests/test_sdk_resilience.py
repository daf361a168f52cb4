"""The API being down, hanging, slow or rejecting never breaks or slows the caller."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time

import energylab_sdk as energy
import pytest
from energylab_sdk import _client
from energylab_sdk.testing import ERROR, HANG, OK, dead_url


def timed_calls(n: int = 300) -> list[float]:
    costs = []
    for i in range(n):
        t0 = time.perf_counter()
        energy.Energy.set_step(f"s{i}")
        costs.append(time.perf_counter() - t0)
    return costs


def warnings_about(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_refused_port_costs_one_warning_and_no_time(caplog):
    energy.configure(url=dead_url(), pod="p", queue_size=100_000)
    with energy.recording("s"):
        costs = timed_calls()
    assert statistics.median(costs) < 0.0005
    assert energy.flush(0.5) is False
    assert len(warnings_about(caplog, "unreachable")) == 1
    assert _client.current().stats.failures >= 1


def test_a_hanging_server_neither_slows_calls_nor_holds_flush_past_its_deadline(
    energylab_server, caplog
):
    energylab_server.mode = HANG
    energy.configure(url=energylab_server.root_url, pod="p", timeout=1)
    energy.Energy.start("s")
    time.sleep(0.05)  # the sender is now stuck waiting for an answer
    costs = timed_calls()
    assert statistics.median(costs) < 0.0005
    t0 = time.monotonic()
    assert energy.flush(0.3) is False
    assert 0.25 < time.monotonic() - t0 < 0.6


def test_a_full_buffer_drops_the_oldest_events_and_counts_them(energylab_server, caplog):
    energylab_server.mode = ERROR
    energy.configure(url=energylab_server.root_url, pod="p", queue_size=5)
    energy.Energy.start("s")
    for i in range(20):
        energy.Energy.set_step(str(i))
    stats = _client.current().stats
    assert stats.dropped_full >= 15
    assert len(warnings_about(caplog, "buffer full")) == 1
    energylab_server.mode = OK
    energy.flush(3)
    # What reached the server: the last events (the start may have been dropped too).
    steps = [r.body["step"] for r in energylab_server.event_requests() if r.body["type"] == "step"]
    assert steps[-5:] == ["15", "16", "17", "18", "19"]
    _client.current().shutdown(0.1)
    assert warnings_about(caplog, "were dropped because the buffer was full")


def test_transient_errors_are_retried_until_the_api_answers(energylab_server, caplog):
    energylab_server.mode = ERROR
    energy.configure(url=energylab_server.root_url, pod="p")
    with energy.recording("s"):
        energy.Energy.set_step("a")
    time.sleep(0.3)
    energylab_server.mode = OK
    assert energy.flush(3)
    assert energylab_server.changes() == [
        ("start", "s", None),
        ("step", "s", "a"),
        ("stop", "s", "a"),
    ]
    assert len(warnings_about(caplog, "unreachable")) == 1
    assert len(warnings_about(caplog, "reachable again")) == 1


def test_a_rejected_event_is_dropped_with_a_warning_and_the_rest_goes_on(energylab_server, caplog):
    energy.configure(url=energylab_server.root_url, pod="p")
    energy.Energy.start("")  # the server answers 400 {"scenario": [...]}
    energy.Energy.start("good")
    assert energy.flush(2)
    assert energylab_server.changes() == [("start", "good", "running")]
    (message,) = warnings_about(caplog, "rejected")
    assert "400" in message
    assert "scenario" in message


def test_bad_credentials_warn_once_and_drop(energylab_server, caplog):
    energylab_server.token = "right"
    energy.configure(url=energylab_server.root_url, pod="p", token="wrong")
    with energy.recording("s"):
        energy.Energy.set_step("a")
    assert energy.flush(2)
    assert energylab_server.events() == []
    assert len(warnings_about(caplog, "credentials")) == 1
    assert _client.current().stats.rejected == 3


def test_a_step_without_a_running_run_is_dropped(energylab_server, caplog):
    energy.configure(url=energylab_server.root_url, pod="p")
    energy.Energy.set_step("orphan")
    energy.Energy.set_step("orphan")
    assert energy.flush(2)
    assert len(warnings_about(caplog, "no run is running")) == 1


def test_bad_configuration_never_raises(caplog):
    energy.configure(url="ftp://nowhere", pod="p", flush_timeout="soon", queue_size=-3)
    with energy.recording("s"):
        energy.Energy.set_step("a")
    assert energy.flush(0.1)
    assert warnings_about(caplog, "bad API URL")
    assert warnings_about(caplog, "not a number")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_sends_through_its_own_thread(energy, energylab_server):
    energy.Energy.start("parent")
    assert energy.flush(2)
    pid = os.fork()
    if pid == 0:  # child: exit without running pytest's teardown
        code = 1
        try:
            energy.Energy.set_step("from-child")
            code = 0 if energy.flush(3) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    energy.Energy.set_step("from-parent")
    assert energy.flush(2)
    assert [e["step"] for e in energylab_server.events()] == [
        "running",
        "from-child",
        "from-parent",
    ]


def run_script(
    code: str, url: str, timeout: float = 10
) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, ENERGYLAB_API_URL=url, ENERGYLAB_POD="p", ENERGYLAB_FLUSH_TIMEOUT="0.5")
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return time.monotonic() - t0, done


SCRIPT = """
    import energylab_sdk as energy
    with energy.recording("at-exit"):
        energy.Energy.set_step("a")
    print("done")
"""


def test_pending_events_are_flushed_at_exit(energylab_server):
    _, done = run_script(SCRIPT, energylab_server.root_url)
    assert done.returncode == 0, done.stderr
    assert energylab_server.changes() == [
        ("start", "at-exit", None),
        ("step", "at-exit", "a"),
        ("stop", "at-exit", "a"),
    ]


def test_exit_gives_up_at_the_flush_deadline_when_the_api_hangs(energylab_server):
    energylab_server.mode = HANG
    elapsed, done = run_script(SCRIPT, energylab_server.root_url)
    assert done.returncode == 0
    assert done.stdout == "done\n"
    assert elapsed < 0.5 + 2.5  # flush deadline + interpreter start
    assert "gave up on 3 unsent event(s)" in done.stderr
