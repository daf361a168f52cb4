"""A start that creates its pod is a likely typo: the SDK and the CLI warn once, naming the known
pods closest to it, and never raise."""

from __future__ import annotations

import energylab_sdk
from energylab_sdk import cli


def created_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if "was unknown and has been created" in r.getMessage()
    ]


def test_a_start_that_creates_a_pod_warns_once_naming_the_closest_known_pods(
    energylab_server, caplog
):
    energylab_server.pods = {"demo-lab", "other"}
    energylab_sdk.configure(url=energylab_server.root_url, pod="Demo-lab")
    for scenario in ("a", "b"):
        with energylab_sdk.recording(scenario):
            pass
    assert energylab_sdk.flush(2)
    assert created_warnings(caplog) == [
        "energylab: pod 'Demo-lab' was unknown and has been created; did you mean 'demo-lab'?"
    ]


def test_a_start_on_a_known_pod_warns_nothing(energylab_server, caplog):
    energylab_server.pods = {"demo-lab"}
    energylab_sdk.configure(url=energylab_server.root_url, pod="demo-lab")
    with energylab_sdk.recording("a"):
        pass
    assert energylab_sdk.flush(2)
    assert created_warnings(caplog) == []


def test_the_cli_start_warns_on_stderr_and_exits_zero(energylab_server, capsys):
    energylab_server.pods = {"demo-lab"}
    code = cli.main(
        ["start", "--scenario", "s", "--url", energylab_server.root_url, "--pod", "demo lab"]
    )
    assert code == 0
    assert "pod 'demo lab' was unknown and has been created; did you mean 'demo-lab'?" in (
        capsys.readouterr().err
    )
