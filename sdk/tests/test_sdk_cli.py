"""The energylab command: exit codes, messages, and what reaches the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import energylab_sdk
import pytest
from energylab_sdk.testing import dead_url

CLI = [sys.executable, "-m", "energylab_sdk"]


def run(*args: str, url: str | None = None, pod: str | None = "p", timeout: float = 15):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGY", "NODE_NAME"))}
    env["ENERGYLAB_FLUSH_TIMEOUT"] = "1"
    if url:
        env["ENERGYLAB_API_URL"] = url
    if pod:
        env["ENERGYLAB_POD"] = pod
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "energylab"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == f"energylab {energylab_sdk.__version__}"


@pytest.mark.parametrize("command", [[], ["record"], ["start"], ["step"], ["stop"], ["report"]])
def test_every_command_has_help(command):
    done = run(*command, "--help")
    assert done.returncode == 0
    assert "usage:" in done.stdout


def test_record_passes_the_exit_code_through(energylab_server):
    code = "import sys; print('child ran'); sys.exit(3)"
    done = run(
        "record",
        "--scenario",
        "ci job",
        "--",
        sys.executable,
        "-c",
        code,
        url=energylab_server.root_url,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "child ran\n"
    assert energylab_server.changes() == [("start", "ci job", None), ("stop", "ci job", None)]


def test_record_runs_the_command_when_the_api_is_down():
    done = run("record", "--scenario", "s", "--", sys.executable, "-c", "pass", url=dead_url())
    assert done.returncode == 0
    assert "unreachable" in done.stderr
    assert "Traceback" not in done.stderr


def test_record_forwards_signals_to_the_command(energylab_server):
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
        "print('ready', flush=True)\n"
        "time.sleep(20)\n"
    )
    env = dict(os.environ, ENERGYLAB_API_URL=energylab_server.root_url, ENERGYLAB_POD="p")
    proc = subprocess.Popen(
        [*CLI, "record", "--scenario", "s", "--", sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 7
    finally:
        proc.kill()
        proc.wait()
    assert [c[0] for c in energylab_server.changes()] == ["start", "stop"]


def test_a_missing_command_cannot_be_run():
    done = run("record", "--scenario", "s", "--", "no-such-command-xyz")
    assert done.returncode == 127
    assert "cannot run" in done.stderr


def test_a_missing_command_leaves_no_run_on_the_server(energylab_server):
    done = run(
        "record", "--scenario", "s", "--", "no-such-command-xyz", url=energylab_server.root_url
    )
    assert done.returncode == 127
    assert energylab_server.changes() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "--", "true"], "--scenario"),
        (["record", "--scenario", "s"], "no command"),
        (["record", "--scenario", "s", "--"], "no command"),
        (["start"], "--scenario"),
        (["step"], "name"),
        (["start", "--scenario", "s", "--strict"], "no API URL"),
        (["frobnicate"], "invalid choice"),
        (["report"], "one of the arguments --run --scenario is required"),
        (["report", "--run", "1", "--scenario", "s"], "not allowed with"),
        (["report", "--run", "1"], "no API URL"),
        (["report", "--run", "x"], "invalid int value"),
        (["report", "--scenario", "s", "--last", "0"], "--last must be at least 1"),
        (["report", "--run", "1", "--wait", "-1"], "--wait must not be negative"),
        ([], "usage"),
    ],
)
def test_bad_usage_exits_non_zero_with_a_message(args, message):
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_url_with_a_port_out_of_range_is_named_not_a_traceback():
    done = run("start", "--scenario", "s", "--pod", "p", "--strict", url="http://127.0.0.1:99999")
    assert done.returncode == 2
    assert "bad port" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_url_without_a_pod_is_bad_usage(energylab_server):
    done = run("start", "--scenario", "s", url=energylab_server.root_url, pod=None)
    assert done.returncode == 2
    assert "no pod" in done.stderr


def test_without_url_and_not_strict_the_commands_do_nothing_quietly():
    done = run("start", "--scenario", "s")
    assert (done.returncode, done.stderr) == (0, "")


def test_start_step_stop_from_a_shell_script(energylab_server):
    url = energylab_server.legacy_url
    assert run("start", "--scenario", "sh", "--pod", "lab pod", url=url).returncode == 0
    assert run("step", "deploy", "--pod", "lab pod", url=url).returncode == 0
    assert run("stop", "--pod", "lab pod", url=url).returncode == 0
    assert energylab_server.changes() == [
        ("start", "sh", "running"),
        ("step", "sh", "deploy"),
        ("stop", "sh", "deploy"),
    ]
    assert {e["pod"] for e in energylab_server.events()} == {"lab pod"}


def test_an_unreachable_api_warns_and_exits_0_unless_strict():
    url = dead_url()
    t0 = time.monotonic()
    done = run("step", "x", url=url)
    assert done.returncode == 0
    assert "not recorded" in done.stderr
    assert time.monotonic() - t0 < 10
    strict = run("step", "x", "--strict", url=url)
    assert strict.returncode == 2
    assert "Traceback" not in strict.stderr


def test_a_step_with_no_run_is_reported_once(energylab_server):
    done = run("step", "x", "--strict", url=energylab_server.root_url)
    assert done.returncode == 2
    assert "404" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_report_from_an_old_recorders_url_is_refused_with_the_reason(energylab_server):
    done = run("report", "--run", "1", url=energylab_server.legacy_url)
    assert done.returncode == 1
    assert "has no reports" in done.stderr


def test_a_report_from_a_dead_server_exits_1_at_once():
    started = time.monotonic()
    done = run("report", "--run", "1", url=dead_url())
    assert done.returncode == 1
    assert "cannot reach" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 10


def test_a_report_for_a_scenario_needs_a_pod(energylab_server):
    done = run("report", "--scenario", "s", url=energylab_server.root_url, pod=None)
    assert done.returncode == 2
    assert "--scenario needs a pod" in done.stderr


def test_record_with_report_from_an_old_recorder_says_why_and_keeps_the_exit_code(
    energylab_server,
):
    done = run(
        "record",
        "--scenario",
        "s",
        "--report",
        "--",
        sys.executable,
        "-c",
        "raise SystemExit(3)",
        url=energylab_server.legacy_url,
    )
    assert done.returncode == 3
    assert "no report:" in done.stderr
    assert "has no reports" in done.stderr


def test_record_with_report_and_no_url_says_so_and_keeps_the_exit_code():
    done = run("record", "--scenario", "s", "--report", "--", sys.executable, "-c", "pass")
    assert done.returncode == 0
    assert "no report: no API URL configured" in done.stderr
