"""Decorators, context managers and the Functest-style calls send the right events in order."""

from __future__ import annotations

import asyncio
import time

import energylab_sdk
import pytest
from energylab_sdk.testing import ERROR, OK

POD = "pod-1"  # as configured by the energy fixture


def test_bare_decorator_records_a_function_under_its_qualname(energy, energylab_server):
    @energy.enable_recording
    def check():
        energy.Energy.set_step("inside")
        return 42

    assert check() == 42
    assert energy.flush(2)
    name = check.__qualname__
    assert energylab_server.changes() == [
        ("start", name, None),
        ("step", name, "inside"),
        ("stop", name, "inside"),
    ]
    assert {e["pod"] for e in energylab_server.events()} == {POD}


def test_bare_decorator_names_the_scenario_after_self_case_name(energy, energylab_server):
    class VPing:
        case_name = "vping_ssh"

        @energy.enable_recording
        def run(self):
            return "done"

    assert VPing().run() == "done"
    assert energy.flush(2)
    assert energylab_server.changes() == [("start", "vping_ssh", None), ("stop", "vping_ssh", None)]


def test_decorator_with_arguments_uses_scenario_and_pod(energy, energylab_server):
    @energy.enable_recording(scenario="tempest", pod="pod-2")
    def run():
        pass

    run()
    assert energy.flush(2)
    assert [(e["type"], e["pod"], e["scenario"]) for e in energylab_server.events()] == [
        ("start", "pod-2", "tempest"),
        ("stop", "pod-2", "tempest"),
    ]


def test_a_coroutine_function_is_recorded_while_it_is_awaited(energy, energylab_server):
    @energy.enable_recording(scenario="async")
    async def run():
        await asyncio.sleep(0)
        async with energy.step("io"):
            await asyncio.sleep(0)
        return 7

    assert asyncio.iscoroutinefunction(run)
    assert asyncio.run(run()) == 7
    assert energy.flush(2)
    assert energylab_server.changes() == [
        ("start", "async", None),
        ("step", "async", "io"),
        ("stop", "async", "io"),
    ]


def test_a_generator_is_recorded_for_its_whole_life(energy, energylab_server):
    @energy.enable_recording(scenario="gen")
    def produce():
        for i in range(3):
            energy.Energy.set_step(f"item-{i}")
            yield i

    items = produce()
    energy.flush(2)
    assert energylab_server.events() == []  # nothing happens before the first next()
    assert list(items) == [0, 1, 2]
    assert energy.flush(2)
    assert energylab_server.changes() == [
        ("start", "gen", None),
        ("step", "gen", "item-0"),
        ("step", "gen", "item-1"),
        ("step", "gen", "item-2"),
        ("stop", "gen", "item-2"),
    ]


def test_a_closed_generator_ends_its_recording(energy, energylab_server):
    @energy.enable_recording(scenario="gen")
    def produce():
        yield from range(10)

    items = produce()
    next(items)
    items.close()
    assert energy.flush(2)
    assert energylab_server.changes() == [("start", "gen", None), ("stop", "gen", None)]


def test_an_async_generator_is_recorded_for_its_whole_life(energy, energylab_server):
    @energy.enable_recording(scenario="agen")
    async def produce():
        for i in range(2):
            yield i

    async def consume():
        return [i async for i in produce()]

    assert asyncio.run(consume()) == [0, 1]
    assert energy.flush(2)
    assert energylab_server.changes() == [("start", "agen", None), ("stop", "agen", None)]


def test_nested_recordings_restore_the_outer_scenario_and_step(energy, energylab_server):
    with energy.recording("outer"):
        energy.Energy.set_step("deploy")
        with energy.recording("inner", step="boot"):
            energy.Energy.set_step("ping")
        energy.Energy.set_step("teardown")
    assert energy.flush(2)
    assert energylab_server.changes() == [
        ("start", "outer", None),
        ("step", "outer", "deploy"),
        ("start", "inner", "boot"),
        ("step", "inner", "ping"),
        ("start", "outer", "deploy"),
        ("step", "outer", "teardown"),
        ("stop", "outer", "teardown"),
    ]


def test_the_step_context_manager_restores_the_previous_step(energy, energylab_server):
    with energy.recording("s", step="a"), energy.step("b"):
        pass
    assert energy.flush(2)
    assert energylab_server.changes() == [
        ("start", "s", "a"),
        ("step", "s", "b"),
        ("step", "s", "a"),
        ("stop", "s", "a"),
    ]


def test_the_set_step_decorator_switches_step_on_each_call(energy, energylab_server):
    @energy.set_step("prepare")
    def prepare():
        return "ok"

    with energy.recording("s"):
        assert prepare() == "ok"
        energy.Energy.set_step("run")
        prepare()
    assert energy.flush(2)
    assert [k[2] for k in energylab_server.changes()] == [
        None,
        "prepare",
        "run",
        "prepare",
        "prepare",
    ]


def test_one_recording_object_is_both_decorator_and_context_manager(energy, energylab_server):
    rec = energy.recording("both")

    @rec
    def run():
        pass

    run()
    with rec:
        pass
    assert energy.flush(2)
    assert [k[0] for k in energylab_server.changes()] == ["start", "stop", "start", "stop"]


def test_events_arrive_in_the_order_of_the_calls(energy, energylab_server):
    with energy.recording("order"):
        for i in range(200):
            energy.Energy.set_step(str(i))
    assert energy.flush(5)
    steps = [e["step"] for e in energylab_server.events() if e["type"] == "step"]
    assert steps == [str(i) for i in range(200)]
    ats = [e["at"] for e in energylab_server.events()]
    assert ats == sorted(ats)


def test_timestamps_are_taken_when_called_not_when_sent(energy, energylab_server):
    energylab_server.mode = ERROR  # events wait in the buffer
    before = time.time_ns()
    energy.Energy.start("late")
    after = time.time_ns()
    time.sleep(0.4)
    energylab_server.mode = OK
    assert energy.flush(3)
    (event,) = energylab_server.events()
    slack = 20_000_000  # the learned clock offset of the fake server: about 0
    assert before - slack <= event["at"] <= after + slack  # not 0.4 s later


def test_user_exceptions_pass_through_and_end_the_recording(energy, energylab_server):
    @energy.enable_recording(scenario="boom")
    def run():
        raise KeyError("user error")

    with pytest.raises(KeyError, match="user error"):
        run()
    assert energy.flush(2)
    assert [k[0] for k in energylab_server.changes()] == ["start", "stop"]


def test_functest_style_calls(energy, energylab_server):
    assert energy.Energy.start("tc1")
    assert energy.Energy.get_current_scenario() == {
        "scenario": "tc1",
        "step": "running",
        "environment": POD,
    }
    assert energy.Energy.set_step("s1")
    assert energy.Energy.submit_scenario("tc2", "s2")
    assert energy.Energy.stop()
    assert energy.Energy.get_current_scenario() is None
    assert energy.EnergyRecorder is energy.Energy
    assert energy.flush(2)
    assert energylab_server.changes() == [
        ("start", "tc1", "running"),
        ("step", "tc1", "s1"),
        ("start", "tc2", "s2"),
        ("stop", "tc2", "s2"),
    ]


def test_without_url_everything_is_a_silent_no_op(caplog):
    caplog.set_level("DEBUG", logger="energylab_sdk")
    energylab_sdk.configure()

    @energylab_sdk.enable_recording
    def run():
        energylab_sdk.Energy.set_step("x")
        return 1

    assert run() == 1
    with energylab_sdk.recording("s"), energylab_sdk.step("t"):
        pass
    assert energylab_sdk.Energy.start("s") is False
    assert energylab_sdk.flush(0.1)
    assert [r for r in caplog.records if r.levelname != "DEBUG"] == []
    assert len([r for r in caplog.records if "no API URL" in r.getMessage()]) == 1


def test_without_pod_it_warns_once_and_records_nothing(energylab_server, caplog):
    energylab_sdk.configure(url=energylab_server.root_url)
    for _ in range(3):
        with energylab_sdk.recording("s"):
            energylab_sdk.Energy.set_step("x")
    energylab_sdk.flush(1)
    assert energylab_server.requests == []
    assert len([r for r in caplog.records if "no pod" in r.getMessage()]) == 1
