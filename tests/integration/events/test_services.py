"""The event logic shared by the native and legacy APIs."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from collectors.models import Pod
from events import services
from events.models import Run, RunSource, Step

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True, params=["step function", "ORM"])
def step_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both paths of the step event: PostgreSQL's function and the ORM's."""
    monkeypatch.setattr(services, "STEP_FUNCTION", request.param == "step function")
    return str(request.param)


def test_starting_on_an_unknown_pod_creates_it() -> None:
    started = services.start_run("new pod", "scenario", "running", T0)
    assert Run.objects.get(pk=started.run.id).pod == Pod.objects.get(name="new pod")
    assert started.run.pod == "new pod"
    assert started.ended_previous is None
    assert [s.name for s in Step.objects.filter(run_id=started.run.id)] == ["running"]


def test_a_start_ends_the_running_run_and_its_step_at_its_time() -> None:
    first = services.start_run("pod", "a", "one", T0).run
    second = services.start_run("pod", "b", None, T0 + 10 * S)
    assert second.ended_previous is not None
    assert second.ended_previous.id == first.id
    assert (second.ended_previous.ended_at, second.ended_previous.ended_step) == (
        T0 + 10 * S,
        "one",
    )
    ended = Run.objects.get(pk=first.id)
    assert ended.ended_at == T0 + 10 * S
    assert ended.steps.get().ended_at == T0 + 10 * S
    assert Run.objects.filter(ended_at__isnull=True).get().pk == second.run.id


def assert_runs_follow_each_other(pod: str) -> None:
    """The pod's runs in order: none overlaps the next, none ends before it starts."""
    runs = list(Run.objects.filter(pod__name=pod).order_by("started_at", "id"))
    for earlier, later in itertools.pairwise(runs):
        assert earlier.ended_at is not None
        assert earlier.started_at <= earlier.ended_at <= later.started_at


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (T0 - 60 * S, "before the running run's start"),
        (T0 + 2 * S, "before the start of the current step 'two'"),
    ],
)
def test_a_start_before_the_running_run_or_step_is_out_of_order_and_changes_nothing(
    at: dt.datetime, message: str
) -> None:
    """A start ends the running run at its time: before that run's (or step's) start, it would
    end it before it began and the two runs would overlap."""
    services.start_run("pod", "a", "one", T0)
    services.set_step("pod", "two", T0 + 5 * S)
    with pytest.raises(services.EventOutOfOrder, match=message):
        services.start_run("pod", "b", None, at)
    assert Run.objects.get().ended_at is None
    assert Step.objects.get(name="two").ended_at is None


def test_a_start_before_the_end_of_the_last_run_is_out_of_order_and_changes_nothing() -> None:
    services.start_run("pod", "a", "one", T0)
    services.stop_run("pod", T0 + 10 * S)
    with pytest.raises(services.EventOutOfOrder, match="before the end of the pod's last run"):
        services.start_run("pod", "b", None, T0 + 9 * S)
    assert Run.objects.count() == 1
    services.start_run("pod", "b", None, T0 + 10 * S)  # the instant it ended: in order
    assert_runs_follow_each_other("pod")


def test_a_start_without_a_time_is_never_before_the_end_of_the_last_run() -> None:
    """The last run was stopped with a time ahead of this server's clock (up to five minutes
    are accepted): a start stamped by the server must not begin inside it."""
    ahead = timezone.now() + 4 * 60 * S
    services.start_run("pod", "a", None, ahead - S)
    services.stop_run("pod", ahead)
    started = services.start_run("pod", "b").run
    assert started.started_at == ahead
    assert_runs_follow_each_other("pod")


def test_a_start_without_a_time_is_never_before_the_running_runs_latest_start() -> None:
    ahead = timezone.now() + 4 * 60 * S
    services.start_run("pod", "a", "one", ahead - S)
    services.set_step("pod", "two", ahead)
    started = services.start_run("pod", "b")
    assert started.run.started_at == ahead
    assert Run.objects.get(scenario="a").ended_at == ahead
    assert_runs_follow_each_other("pod")


@pytest.mark.parametrize("event", ["step", "stop"])
def test_a_step_or_stop_without_a_time_is_never_before_the_runs_latest_start(event: str) -> None:
    ahead = timezone.now() + 4 * 60 * S
    services.start_run("pod", "a", "one", ahead)
    if event == "step":
        services.set_step("pod", "two")
        assert Step.objects.get(name="two").started_at == ahead
    else:
        assert services.stop_run("pod").ended_at == ahead


def test_a_step_ends_the_running_step() -> None:
    services.start_run("pod", "a", "one", T0)
    run = services.set_step("pod", "two", T0 + S)
    steps = list(Step.objects.filter(run_id=run.id).order_by("started_at"))
    assert [(s.name, s.ended_at) for s in steps] == [("one", T0 + S), ("two", None)]


def test_a_step_answers_its_run_with_the_new_step_and_count() -> None:
    started = services.start_run("pod", "a", "one", T0, RunSource.SDK).run
    services.set_step("pod", "two", T0 + S)
    run = services.set_step("pod", "three", T0 + 2 * S)
    assert (run.id, run.pod, run.scenario, run.source) == (started.id, "pod", "a", "sdk")
    assert (run.started_at, run.ended_at) == (T0, None)
    assert (run.step, run.step_count, run.ended_step) == ("three", 3, "two")
    assert Run.objects.get().step_count == 3


def test_a_step_without_a_time_starts_when_it_is_received() -> None:
    services.start_run("pod", "a", "one", T0)
    before = timezone.now()
    services.set_step("pod", "two")
    step = Step.objects.get(name="two")
    assert before <= step.started_at <= timezone.now()
    assert Step.objects.get(name="one").ended_at == step.started_at


def test_a_step_sent_again_with_its_time_is_a_retry_and_recorded_once() -> None:
    services.start_run("p", "s", "one", T0)
    first = services.set_step("p", "two", T0 + S)
    again = services.set_step("p", "two", T0 + S)
    assert (again.step, again.step_started_at, again.step_count) == ("two", T0 + S, 2)
    assert again.id == first.id
    assert list(Step.objects.order_by("started_at").values_list("name", "ended_at")) == [
        ("one", T0 + S),
        ("two", None),
    ]


def test_the_first_step_of_a_run_started_without_one_is_recorded() -> None:
    services.start_run("p", "s", None, T0)
    stepped = services.set_step("p", "one", T0 + S)
    assert (stepped.step, stepped.step_count) == ("one", 1)
    assert list(Step.objects.values_list("name", "started_at")) == [("one", T0 + S)]


def test_a_step_named_as_the_running_one_at_another_time_is_a_new_step() -> None:
    services.start_run("p", "s", "build", T0)
    services.set_step("p", "build", T0 + S)
    services.set_step("p", "build")
    assert list(Step.objects.values_list("name", flat=True)) == ["build"] * 3


def test_a_start_sent_again_with_its_time_is_a_retry_and_recorded_once() -> None:
    first = services.start_run("p", "s", "one", T0)
    again = services.start_run("p", "s", "one", T0)
    assert again.run.id == first.run.id
    assert again.ended_previous is None
    assert (again.run.step, again.run.step_count) == ("one", 1)
    assert Run.objects.count() == 1
    assert Step.objects.count() == 1
    # Not a retry once the run moved on, or for another scenario: a new run.
    services.set_step("p", "two", T0 + S)
    with pytest.raises(services.EventOutOfOrder):
        services.start_run("p", "s", "one", T0)
    assert services.start_run("p", "other", None, T0 + 2 * S).ended_previous is not None


def test_a_step_at_the_instant_of_the_running_one_is_in_order() -> None:
    services.start_run("pod", "a", "one", T0)
    services.set_step("pod", "two", T0)
    assert Step.objects.get(name="two").started_at == T0


@pytest.mark.parametrize("pod", ["idle", "unknown"])
def test_step_and_stop_without_a_running_run_say_so(pod: str) -> None:
    Pod.objects.create(name="idle")
    with pytest.raises(services.NoRunningRun, match=pod):
        services.set_step(pod, "x", T0)
    with pytest.raises(services.NoRunningRun, match=pod):
        services.stop_run(pod, T0)


def test_a_step_before_the_current_step_is_out_of_order_and_changes_nothing() -> None:
    services.start_run("pod", "a", "one", T0)
    services.set_step("pod", "two", T0 + 10 * S)
    with pytest.raises(services.EventOutOfOrder, match="'two'"):
        services.set_step("pod", "three", T0 + 5 * S)
    assert list(Step.objects.values_list("name", flat=True)) == ["one", "two"]


def test_a_stop_before_the_run_started_is_out_of_order() -> None:
    services.start_run("pod", "a", None, T0)
    with pytest.raises(services.EventOutOfOrder, match="before the run's start"):
        services.stop_run("pod", T0 - S)
    assert Run.objects.get().ended_at is None


def test_a_stop_ends_the_run_and_its_step() -> None:
    services.start_run("pod", "a", "one", T0)
    run = services.stop_run("pod", T0 + S)
    assert (run.ended_at, run.step, run.ended_step) == (T0 + S, None, "one")
    assert Run.objects.get(pk=run.id).ended_received_at is not None
    assert Step.objects.get(run_id=run.id).ended_at == T0 + S


def test_events_by_run_id_refuse_an_ended_run() -> None:
    run = services.start_run("pod", "a", None, T0).run
    services.stop_run_by_id(run.id, T0 + S)
    with pytest.raises(services.RunEnded):
        services.set_step_of(run.id, "x", T0 + 2 * S)
    with pytest.raises(services.RunNotFound):
        services.stop_run_by_id(run.id + 1000, T0 + 2 * S)


def test_run_at_finds_the_scenario_and_step_of_an_instant() -> None:
    services.start_run("pod", "a", "one", T0, RunSource.LEGACY)
    services.set_step("pod", "two", T0 + 10 * S)
    services.start_run("pod", "b", "three", T0 + 20 * S)
    run, step = services.run_at("pod", T0 + 15 * S) or (None, None)
    assert (run.scenario if run else None, step.name if step else None) == ("a", "two")
    run, step = services.run_at("pod", T0 + 20 * S) or (None, None)
    assert (run.scenario if run else None, step.name if step else None) == ("b", "three")
    assert services.run_at("pod", T0 - S) is None
    assert services.run_at("other", T0) is None


def errors_of_threads(count: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads let go at once; the exceptions they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # returned to the test
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_on_a_new_pod_leave_one_running_run_and_no_overlap() -> None:
    """Starts the server stamps happen when they take the pod's lock: one stamped a moment
    earlier but locked later must not start inside the run started meanwhile."""

    def start(i: int) -> None:
        services.start_run("contended pod", f"s{i}", "one")

    assert errors_of_threads(12, start) == []
    assert Pod.objects.filter(name="contended pod").count() == 1
    assert Run.objects.count() == 12
    assert Run.objects.filter(ended_at__isnull=True).count() == 1
    assert Step.objects.filter(ended_at__isnull=True).count() == 1
    assert_runs_follow_each_other("contended pod")


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_with_times_are_applied_in_order_or_refused() -> None:
    services.start_run("contended pod", "first", None, T0)

    def start(i: int) -> None:
        # Refused when a later start took the lock first: this one would rewrite its history.
        with contextlib.suppress(services.EventOutOfOrder):
            services.start_run("contended pod", f"s{i}", "one", T0 + (i + 1) * S)

    assert errors_of_threads(8, start) == []
    assert Run.objects.filter(ended_at__isnull=True).count() == 1
    assert_runs_follow_each_other("contended pod")


@pytest.mark.django_db(transaction=True)
def test_concurrent_steps_without_a_time_on_one_pod_are_never_out_of_order() -> None:
    """A step the server stamps happens when it takes the pod's lock: a process that stamped it
    a moment earlier but locked later must not find it before the step entered meanwhile."""
    services.start_run("busy pod", "s", "first", timezone.now())

    def steps(i: int) -> None:
        for n in range(20):
            services.set_step("busy pod", f"thread {i} step {n}")

    assert errors_of_threads(6, steps) == []
    steps_in_order = list(Step.objects.order_by("started_at", "id"))
    assert len(steps_in_order) == 121 == Run.objects.get().step_count
    for earlier, later in itertools.pairwise(steps_in_order):
        assert earlier.ended_at == later.started_at
