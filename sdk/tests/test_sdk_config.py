"""Settings: explicit argument, then ENERGYLAB_*, then the old Functest variables."""

from __future__ import annotations

import energylab_sdk as energy
import pytest
from energylab_sdk._config import LEGACY, NATIVE, UNSET, normalize_url, resolve


@pytest.mark.parametrize(
    ("url", "base", "protocol"),
    [
        ("http://host:8000", "http://host:8000/api/v1", NATIVE),
        ("http://host:8000/", "http://host:8000/api/v1", NATIVE),
        ("https://host/lab/api/v1/", "https://host/lab/api/v1", NATIVE),
        ("http://host:8888/resources", "http://host:8888/resources", LEGACY),
        (" http://host:8888/resources/ ", "http://host:8888/resources", LEGACY),
    ],
)
def test_urls_pick_the_protocol(url, base, protocol):
    assert normalize_url(url) == (base, protocol)


@pytest.mark.parametrize(
    "url", ["host:8000", "ftp://host", "http://", "http://h/?x=1", "http://h:99999", "http://h:x"]
)
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError, match="URL"):
        normalize_url(url)


def test_explicit_arguments_win_over_every_variable():
    env = {
        "ENERGYLAB_API_URL": "http://new:8000",
        "ENERGY_RECORDER_API_URL": "http://old:8888/resources",
        "ENERGYLAB_POD": "new-pod",
        "NODE_NAME": "old-pod",
    }
    config = resolve(url="http://arg:1", pod="arg-pod", environ=env)
    assert (config.base_url, config.pod) == ("http://arg:1/api/v1", "arg-pod")


def test_energylab_variables_win_over_functest_ones():
    env = {
        "ENERGYLAB_API_URL": "http://new:8000",
        "ENERGY_RECORDER_API_URL": "http://old:8888/resources",
        "ENERGYLAB_POD": "new-pod",
        "NODE_NAME": "old-pod",
        "ENERGYLAB_API_TOKEN": "tok",
    }
    config = resolve(environ=env)
    assert (config.base_url, config.protocol, config.pod, config.token) == (
        "http://new:8000/api/v1",
        NATIVE,
        "new-pod",
        "tok",
    )


def test_functest_variables_are_read():
    env = {
        "ENERGY_RECORDER_API_URL": "http://old:8888/resources",
        "NODE_NAME": "lab pod 7",
        "ENERGY_RECORDER_API_USER": "u",
        "ENERGY_RECORDER_API_PASSWORD": "pw",
    }
    config = resolve(environ=env)
    assert (config.base_url, config.protocol, config.pod, config.user, config.password) == (
        "http://old:8888/resources",
        LEGACY,
        "lab pod 7",
        "u",
        "pw",
    )


def test_an_explicit_none_turns_recording_off_whatever_the_environment():
    assert not resolve(url=None, environ={"ENERGYLAB_API_URL": "http://h"}).enabled
    assert resolve(url=UNSET, environ={"ENERGYLAB_API_URL": "http://h"}).enabled
    assert not resolve(environ={"ENERGYLAB_API_URL": "  "}).enabled


def test_numbers_come_from_the_environment_and_bad_ones_fall_back(caplog):
    config = resolve(environ={"ENERGYLAB_FLUSH_TIMEOUT": "0.7", "ENERGYLAB_QUEUE_SIZE": "nope"})
    assert config.flush_timeout == 0.7
    assert config.queue_size == 10_000
    assert "not a number" in caplog.text


def test_functest_environment_drives_a_legacy_server_with_basic_auth(monkeypatch, energylab_server):
    energylab_server.basic_auth = ("user", "secret")
    monkeypatch.setenv("ENERGY_RECORDER_API_URL", energylab_server.legacy_url)
    monkeypatch.setenv("NODE_NAME", "pod-7")
    monkeypatch.setenv("ENERGY_RECORDER_API_USER", "user")
    monkeypatch.setenv("ENERGY_RECORDER_API_PASSWORD", "secret")
    energy.configure()
    with energy.recording("s"):
        pass
    assert energy.flush(2)
    assert [(e["protocol"], e["pod"], e["type"]) for e in energylab_server.events()] == [
        ("legacy", "pod-7", "start"),
        ("legacy", "pod-7", "stop"),
    ]
    assert all(r.headers["authorization"].startswith("Basic ") for r in energylab_server.requests)


def test_a_token_from_the_environment_is_sent(monkeypatch, energylab_server):
    energylab_server.token = "t0k"
    monkeypatch.setenv("ENERGYLAB_API_URL", energylab_server.root_url)
    monkeypatch.setenv("ENERGYLAB_POD", "p")
    monkeypatch.setenv("ENERGYLAB_API_TOKEN", "t0k")
    monkeypatch.setenv("ENERGY_RECORDER_API_USER", "ignored-when-a-token-is-set")
    energy.configure()
    energy.Energy.start("s")
    assert energy.flush(2)
    assert energylab_server.changes() == [("start", "s", "running")]
    assert {r.headers["authorization"] for r in energylab_server.requests} == {"Token t0k"}
