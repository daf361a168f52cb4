"""Missing services are named, with how to start them; never a hang."""

from __future__ import annotations

import socket
import time

import pytest

from energylab.services import ServiceUnavailable, check_influxdb, check_redis

pytest_plugins = ["pytester"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_silent_influxdb_is_named() -> None:
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"InfluxDB does not answer.*make services"):
        check_influxdb(f"http://127.0.0.1:{closed_port()}", timeout=1)
    assert time.monotonic() - started < 5


def test_a_silent_redis_is_named() -> None:
    with pytest.raises(ServiceUnavailable, match=r"Redis does not answer.*make services"):
        check_redis(f"redis://127.0.0.1:{closed_port()}/0", timeout=1)


def test_the_influxdb_fixture_fails_naming_the_service(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_needs_influx="""
        def test_uses_it(influxdb_database):
            pass
        """
    )
    monkeypatch.setenv("ENERGYLAB_INFLUXDB_URL", f"http://127.0.0.1:{closed_port()}")
    result = pytester.runpytest_subprocess(
        "-p", "energylab.testing", "--ds", "energylab.settings_test", "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines(["*InfluxDB does not answer at http://127.0.0.1:*make services*"])
    assert result.ret != 0
