"""An URL ending in /resources drives an old energy recorder (legacy paths)."""

from __future__ import annotations

from urllib.parse import quote

import energylab_sdk as energy
import pytest

NAMES = ["lab pod 7", "a,b=c", "quote\"d 'x'", "zürich-\u03b1/\u03b2", "plus+sign"]


@pytest.mark.parametrize("pod", NAMES)
def test_legacy_paths_carry_the_pod_percent_encoded(energylab_server, pod):
    energy.configure(url=energylab_server.legacy_url, pod=pod)
    with energy.recording("sc nä,me=1"):
        energy.Energy.set_step("st ep")
    assert energy.flush(2)
    env = "/resources/recorders/environment/" + quote(pod, safe="")
    requests = energylab_server.event_requests()
    assert [(r.method, r.path.split("?")[0]) for r in requests] == [
        ("POST", env),
        ("POST", env + "/step"),
        ("DELETE", env),
    ]
    assert "%20" in requests[0].path or " " not in pod
    start, step, stop = requests
    assert start.body == {"scenario": "sc nä,me=1", "step": "running", "time": start.body["time"]}
    assert step.body == {"step": "st ep", "time": step.body["time"]}
    assert stop.path.split("?")[1] == f"time={energylab_server.events()[2]['at']}"
    assert {e["pod"] for e in energylab_server.events()} == {pod}


def test_legacy_nesting_restores_the_outer_scenario(energylab_server):
    energy.configure(url=energylab_server.legacy_url, pod="p")
    with energy.recording("outer", step="s1"), energy.recording("inner"):
        pass
    assert energy.flush(2)
    assert energylab_server.changes() == [
        ("start", "outer", "s1"),
        ("start", "inner", "running"),
        ("start", "outer", "s1"),
        ("stop", "outer", "s1"),
    ]
    assert energylab_server.requests[0].path == "/resources/monitoring/ping"
