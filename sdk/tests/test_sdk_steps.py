"""Which step a run is in after a ``step()`` block, a ``@step``/``@set_step`` function or a
direct ``Energy.set_step()``: one rule for all (sdk/README.md, "Steps").

Leaving a ``step()`` returns to the step the program was in when it was entered (the enclosing
block's, or one set directly); a top-level block inside a recording with no step set before it
sends nothing on exit, so no step is recorded that the program is not in.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
from energylab_sdk import Energy

POD = "pod-1"  # as configured by the energy fixture
INITIAL = Energy.INITIAL_STEP  # the step of a legacy start that names none


def story(energy, server):
    assert energy.flush(2)
    return server.changes()


def test_sequential_step_blocks_record_exactly_those_steps(energy, energylab_server):
    # The README's pattern: it recorded a third step, "build" again, when "test" ended.
    with energy.recording("smoke"):
        with energy.step("build"):
            pass
        with energy.step("test"):
            pass
    assert story(energy, energylab_server) == [
        ("start", "smoke", None),
        ("step", "smoke", "build"),
        ("step", "smoke", "test"),
        ("stop", "smoke", "test"),
    ]


def test_a_nested_step_block_returns_to_the_enclosing_one(energy, energylab_server):
    with energy.recording("smoke"):
        with energy.step("deploy"):
            with energy.step("wait"):
                pass
            with energy.step("check"):
                pass
        with energy.step("teardown"):
            pass
    assert [c[2] for c in story(energy, energylab_server)] == [
        None,
        "deploy",
        "wait",
        "deploy",
        "check",
        "deploy",
        "teardown",
        "teardown",  # the stop, in the step the run ended in
    ]


def test_a_step_block_returns_to_a_step_set_directly(energy, energylab_server):
    with energy.recording("smoke", step="setup"):
        with energy.step("deploy"):
            pass
        energy.Energy.set_step("boot")
        with energy.step("ping"):
            pass
    assert [c[2] for c in story(energy, energylab_server)] == [
        "setup",
        "deploy",
        "setup",
        "boot",
        "ping",
        "boot",
        "boot",
    ]


def test_a_direct_change_inside_a_block_is_returned_to_by_inner_blocks_only(
    energy, energylab_server
):
    @energy.set_step("prepare")
    def prepare():
        return "ok"

    with energy.recording("smoke"):
        with energy.step("deploy"):
            assert prepare() == "ok"  # replaces "deploy" as the step of this block
            with energy.step("inner"):
                pass
        with energy.step("after"):
            pass
    assert [c[2] for c in story(energy, energylab_server)] == [
        None,
        "deploy",
        "prepare",
        "inner",
        "prepare",
        "after",
        "after",
    ]


def test_the_step_decorator_follows_the_same_rule(energy, energylab_server):
    @energy.step("compile")
    def compile_():
        return "built"

    with energy.recording("smoke"):
        assert compile_() == "built"
        assert compile_() == "built"
        with energy.step("outer"):
            compile_()
    assert [c[2] for c in story(energy, energylab_server)] == [
        None,
        "compile",
        "compile",
        "outer",
        "compile",
        "outer",
        "outer",
    ]


def test_async_step_blocks_follow_the_same_rule(energy, energylab_server):
    @energy.enable_recording(scenario="io")
    async def run():
        async with energy.step("read"), energy.step("parse"):
            await asyncio.sleep(0)
        async with energy.step("write"):
            await asyncio.sleep(0)

    asyncio.run(run())
    assert [c[2] for c in story(energy, energylab_server)] == [
        None,
        "read",
        "parse",
        "read",
        "write",
        "write",
    ]


def test_an_inner_recording_restores_the_outer_one_in_the_step_it_is_in(energy, energylab_server):
    with energy.recording("outer"):
        with energy.step("build"):
            pass  # left: the outer recording is in no step any more
        with energy.recording("inner"), energy.step("boot"):
            pass
        with energy.step("deploy"), energy.recording("inner"):
            pass
    assert story(energy, energylab_server) == [
        ("start", "outer", None),
        ("step", "outer", "build"),
        ("start", "inner", None),
        ("step", "inner", "boot"),
        ("start", "outer", None),  # not "build", whose block had ended
        ("step", "outer", "deploy"),
        ("start", "inner", None),
        ("start", "outer", "deploy"),
        ("stop", "outer", "deploy"),
    ]


def test_a_block_of_the_outer_recording_left_during_the_inner_one_sends_nothing(
    energy, energylab_server
):
    outer = energy.recording("outer", step="main")
    block = energy.step("side")
    inner = energy.recording("inner")
    outer.__enter__()
    block.__enter__()
    inner.__enter__()
    block.__exit__(None, None, None)  # e.g. a generator of the outer one closed meanwhile
    inner.__exit__(None, None, None)
    outer.__exit__(None, None, None)
    assert story(energy, energylab_server) == [
        ("start", "outer", "main"),
        ("step", "outer", "side"),
        ("start", "inner", None),
        ("start", "outer", "main"),
        ("stop", "outer", "main"),
    ]


def test_blocks_left_out_of_order_return_where_the_first_was_entered(energy, energylab_server):
    first, second = energy.step("first"), energy.step("second")
    with energy.recording("interleaved", step="base"):
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)  # not the innermost: nothing is sent
        second.__exit__(None, None, None)
    assert [c[2] for c in story(energy, energylab_server)] == [
        "base",
        "first",
        "second",
        "base",
        "base",
    ]


def test_the_legacy_protocol_does_not_return_to_its_initial_step(energylab_server):
    import energylab_sdk as energy

    energy.configure(url=energylab_server.legacy_url, pod=POD)
    with energy.recording("legacy"):  # sent in step "running": the old API needs a step
        with energy.step("build"):
            pass
        with energy.step("test"):
            pass
        with energy.recording("inner"):
            pass
    assert story(energy, energylab_server) == [
        ("start", "legacy", INITIAL),
        ("step", "legacy", "build"),
        ("step", "legacy", "test"),
        ("start", "inner", INITIAL),
        ("start", "legacy", INITIAL),
        ("stop", "legacy", INITIAL),
    ]


@pytest.mark.parametrize("explicit_pod", [False, True])
def test_outside_a_recording_nested_blocks_return_to_the_enclosing_one(
    energy, energylab_server, explicit_pod
):
    # As under `energylab record -- python job.py`: the run is started by another process.
    body = {"type": "start", "pod": POD, "scenario": "cli", "at": time.time_ns()}
    request = urllib.request.Request(  # noqa: S310 - the fake server
        f"{energylab_server.native_url}/events/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
    pod = POD if explicit_pod else None
    energy.Energy.set_step("one", pod=pod)
    with energy.step("outer"), energy.step("inner"):
        pass
    with energy.step("two"):
        pass
    assert [c[2] for c in story(energy, energylab_server)] == [
        None,
        "one",
        "outer",
        "inner",
        "outer",
        "one",
        "two",
        "one",
    ]
