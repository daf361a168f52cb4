"""The writer over the real Redis, InfluxDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import gc
import socket
import time

import pytest
import requests

from collectors.models import BMCType, Pod, Server
from events.influx import make_client
from events.ingest.buffer import Sample, SampleBuffer
from events.ingest.writer import InfluxWriter
from events.models import Run, Step

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 10, 0, 0, tzinfo=dt.UTC)
POD = 'lab "east", row=3'
SERVER = "node\\1 ⚡"


def ns(seconds: float) -> int:
    return int((T0.timestamp() + seconds) * 1_000_000) * 1000


@pytest.fixture
def run() -> Run:
    pod = Pod.objects.create(name=POD)
    Server.objects.create(pod=pod, name=SERVER, bmc_type=BMCType.IPMI, host="h", rack="R 1")
    run = Run.objects.create(
        pod=pod, scenario="boot, then=load", started_at=T0, ended_at=T0 + dt.timedelta(seconds=20)
    )
    Step.objects.create(
        run=run, name="step one", started_at=T0, ended_at=T0 + dt.timedelta(seconds=10)
    )
    Step.objects.create(
        run=run,
        name="step\\two",
        started_at=T0 + dt.timedelta(seconds=10),
        ended_at=T0 + dt.timedelta(seconds=20),
    )
    return run


def writer(buffer: SampleBuffer, client, **kwargs) -> InfluxWriter:
    return InfluxWriter(buffer, client, delay=0, **kwargs)


def push(buffer: SampleBuffer, seconds: list[float], watts: float = 100.0) -> None:
    buffer.push([Sample(POD, SERVER, watts + s, ns(s), "dcmi") for s in seconds])


def points(client, query: str = "SELECT * FROM power") -> list[dict]:
    return list(client.query(query).get_points())


def test_each_sample_is_tagged_with_the_run_and_step_of_its_time(buffer, influx, run) -> None:
    push(buffer, [-5, 0, 5, 10, 15, 25])
    stats = writer(buffer, influx).flush()
    assert stats.samples == 6
    assert stats.error is None
    got = {p["time"]: p for p in points(influx)}
    assert len(got) == 6
    by_offset = sorted(got.values(), key=lambda p: p["time"])
    assert [p["step"] for p in by_offset] == [
        None,
        "step one",
        "step one",
        "step\\two",
        "step\\two",
        None,
    ]
    assert [p["run"] for p in by_offset] == [None, *[str(run.pk)] * 4, None]
    assert by_offset[1]["scenario"] == "boot, then=load"
    assert by_offset[1]["pod"] == POD
    assert by_offset[1]["server"] == SERVER
    assert by_offset[1]["rack"] == "R 1"
    assert by_offset[1]["source"] == "dcmi"
    assert buffer.depth() == 0


def test_a_point_is_at_its_sample_s_time_to_the_nanosecond(buffer, influx, run) -> None:
    at_ns = ns(1) + 999_999  # 999 µs and 999 ns: through a float it can round up a microsecond
    (line,) = writer(buffer, influx).lines_for([Sample(POD, SERVER, 1.0, at_ns, "dcmi")])
    assert line.endswith(f" {at_ns}")


def test_a_batch_written_twice_leaves_one_point_per_sample(
    buffer, influx, run, monkeypatch
) -> None:
    push(buffer, [1, 2, 3])
    w = writer(buffer, influx)

    class Died(Exception):
        pass

    def die(entries: object) -> None:
        raise Died

    with monkeypatch.context() as patch:
        # The worker dies after InfluxDB took the batch, before acknowledging it.
        patch.setattr(buffer, "acknowledge", die)
        with pytest.raises(Died):
            w.flush()
    assert len(points(influx)) == 3
    assert w.flush().samples == 3  # the batch comes again
    assert len(points(influx)) == 3


def test_a_batch_written_again_after_a_late_step_keeps_the_tags_of_its_first_write(
    buffer, influx, run, monkeypatch
) -> None:
    push(buffer, [6, 7])
    w = writer(buffer, influx)

    class Died(Exception):
        pass

    def die(entries: object) -> None:
        raise Died

    with monkeypatch.context() as patch:
        patch.setattr(buffer, "acknowledge", die)  # killed after InfluxDB took the batch
        with pytest.raises(Died):
            w.flush()
    # A late step event moves the samples (6 s, 7 s) into a new step "late".
    run.steps.filter(name="step one").update(ended_at=T0 + dt.timedelta(seconds=5))
    Step.objects.create(
        run=run,
        name="late",
        started_at=T0 + dt.timedelta(seconds=5),
        ended_at=T0 + dt.timedelta(seconds=10),
    )
    assert writer(buffer, influx).flush().samples == 2  # another writer process replays it
    assert [p["step"] for p in points(influx)] == ["step one", "step one"]
    push(buffer, [8])  # a sample the first writer never saw gets the events as they are now
    writer(buffer, influx).flush()
    assert [p["step"] for p in points(influx)] == ["step one", "step one", "late"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_samples_stay_buffered_while_influxdb_is_away(buffer, influx, run, settings) -> None:
    push(buffer, [1, 2])
    settings.INFLUXDB_URL = f"http://127.0.0.1:{closed_port()}"
    stats = writer(buffer, make_client(timeout=1)).flush()
    assert stats.samples == 0
    assert "ConnectionError" in (stats.error or "")
    assert buffer.depth() == 2
    settings.INFLUXDB_URL = "http://127.0.0.1:8086"
    assert writer(buffer, influx).flush().samples == 2
    assert len(points(influx)) == 2


def test_a_batch_influxdb_refuses_is_set_aside_not_blocking(buffer, influx, run) -> None:
    # A field of another type in the same shard makes InfluxDB refuse the batch (HTTP 400).
    influx.write_points(
        [f'power,pod=x,server=y watts="text" {ns(1) // 1000}'], protocol="line", time_precision="u"
    )
    push(buffer, [1])
    stats = writer(buffer, influx).flush()
    assert stats.rejected == 1
    assert buffer.rejected() == 1
    assert buffer.depth() == 0


def test_sensors_and_legacy_schema(buffer, influx, run) -> None:
    buffer.push(
        [
            Sample(POD, SERVER, 180.0, ns(1), "legacy"),
            Sample(POD, SERVER, 42.5, ns(2), "legacy", sensor="inlet temp", unit="°C"),
        ]
    )
    writer(buffer, influx, legacy_schema=True).flush()
    (legacy_power,) = points(influx, 'SELECT * FROM "PowerMeasurement"')
    assert legacy_power["power"] == 180.0
    assert (legacy_power["hardware"], legacy_power["environment"]) == (SERVER, POD)
    assert legacy_power["scenario"] == "boot, then=load"
    assert legacy_power["step"] == "step one"
    (sensor,) = points(influx, "SELECT * FROM sensors")
    assert (sensor["sensor"], sensor["unit"], sensor["value"]) == ("inlet temp", "°C", 42.5)
    legacy_sensors = points(influx, 'SELECT * FROM "SensorMeasurement"')
    assert [(p["equipement"], p["sensor"], p["unit"], p["value"]) for p in legacy_sensors] == [
        (SERVER, "power", "W", 180.0),
        (SERVER, "inlet temp", "°C", 42.5),
    ]
    assert {(p["environment"], p["rack"], p["step"]) for p in legacy_sensors} == {
        (POD, "R 1", "step one")
    }


def test_steps_are_exported_once_per_edge_for_annotations(buffer, influx, run) -> None:
    w = writer(buffer, influx)
    assert w.flush().steps == 2
    w.flush()  # nothing new: nothing doubled
    got = points(influx, "SELECT * FROM steps")
    assert len(got) == 4
    assert {(p["step"], p["event"]) for p in got} == {
        ("step one", "start"),
        ("step one", "end"),
        ("step\\two", "start"),
        ("step\\two", "end"),
    }
    assert got[0]["title"] == "boot, then=load: step one"


def test_a_step_ended_after_an_export_is_exported_again_with_its_end(buffer, influx) -> None:
    from events import services

    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    services.start_run("pod steps", "s", "one", start)
    time.sleep(1.1)  # so that the export's one second of overlap does not cover the step again
    w = writer(buffer, influx)
    w.flush()
    assert {p["event"] for p in points(influx, "SELECT * FROM steps")} == {"start"}
    services.set_step("pod steps", "two", start + dt.timedelta(seconds=10))
    services.stop_run("pod steps", start + dt.timedelta(seconds=20))
    w.flush()
    edges = {(p["step"], p["event"]) for p in points(influx, "SELECT * FROM steps")}
    assert edges == {("one", "start"), ("one", "end"), ("two", "start"), ("two", "end")}


class _SampleWritesHooked:
    """The InfluxDB client, calling :meth:`before_sample_write` before each write of samples
    (not of step annotations); ``sample_writes`` counts them."""

    def __init__(self, client) -> None:
        self._client = client
        self.sample_writes = 0

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def before_sample_write(self) -> None:
        raise NotImplementedError

    def write_points(self, lines, **kwargs):
        if lines and lines[0].startswith("power"):
            self.sample_writes += 1
            self.before_sample_write()
        return self._client.write_points(lines, **kwargs)


class _FailingPowerWrite(_SampleWritesHooked):
    """Its ``nth`` write of samples fails with ``error``."""

    def __init__(self, client, nth: int, error: Exception) -> None:
        super().__init__(client)
        self._nth = nth
        self._error = error

    def before_sample_write(self) -> None:
        if self.sample_writes == self._nth:
            raise self._error


def test_a_batch_failing_behind_one_in_flight_stays_buffered_with_the_rest(
    buffer, influx, run
) -> None:
    # One entry per batch: batch 2 is built while batch 1 is in flight, then fails.
    for s in (1, 2, 3):
        push(buffer, [s])
    client = _FailingPowerWrite(influx, 2, requests.ConnectionError("refused"))
    stats = writer(buffer, client, batch_samples=1).flush()
    assert (stats.samples, stats.batches) == (1, 1)
    assert "ConnectionError" in (stats.error or "")
    assert buffer.depth() == 2  # batch 2, and batch 3 (read, never sent)
    assert client.sample_writes == 2
    assert [p["watts"] for p in points(influx)] == [101.0]
    assert writer(buffer, influx).flush().samples == 2
    assert [p["watts"] for p in points(influx)] == [101.0, 102.0, 103.0]


def test_a_refused_batch_between_two_is_set_aside_and_the_next_written(buffer, influx, run) -> None:
    from influxdb.exceptions import InfluxDBClientError

    for s in (1, 2, 3):
        push(buffer, [s])
    client = _FailingPowerWrite(influx, 2, InfluxDBClientError("bad batch", 400))
    stats = writer(buffer, client, batch_samples=1).flush()
    assert (stats.samples, stats.batches, stats.rejected) == (2, 2, 1)
    assert stats.error is None
    assert buffer.depth() == 0
    assert buffer.rejected() == 1
    assert [p["watts"] for p in points(influx)] == [101.0, 103.0]


def test_a_pass_leaves_the_cyclic_gc_running_for_the_other_threads(
    buffer, influx, run, monkeypatch
) -> None:
    # gc.disable() is process-wide: during a pass it would pause collection for the poll
    # threads of the same worker too.
    seen: list[bool] = []
    build = InfluxWriter.lines_for

    def watched(self, samples, correlator=None):
        seen.append(gc.isenabled())
        return build(self, samples, correlator)

    monkeypatch.setattr(InfluxWriter, "lines_for", watched)
    push(buffer, [1, 2])
    assert writer(buffer, influx).flush().samples == 2
    assert seen
    assert all(seen)
    assert gc.isenabled()


def test_a_server_stored_with_a_newline_in_its_topology_does_not_poison_the_batch(
    buffer, influx, run, caplog
) -> None:
    # Stored before the API refused control characters (or from a shell): create() skips
    # validation. Its samples share a batch with a healthy server's.
    pod = run.pod
    Server.objects.create(pod=pod, name="topo1", bmc_type=BMCType.PUSH, dc="dc\nnext", room="a\tb")
    buffer.push(
        [
            Sample(POD, "topo1", 77.0, ns(1), "legacy"),
            Sample(POD, SERVER, 120.0, ns(1), "dcmi"),
        ]
    )
    stats = writer(buffer, influx).flush()
    assert (stats.rejected, stats.samples, buffer.depth()) == (0, 2, 0)
    got = {p["server"]: p for p in points(influx)}
    assert got["topo1"]["dc"] == "dc\ufffdnext"
    assert got["topo1"]["room"] == "a\ufffdb"
    assert got[SERVER]["watts"] == 120.0
    assert {"name": "next"} not in points(influx, "SHOW MEASUREMENTS")
    assert "control characters" in caplog.text


class _PushingWhileWriting(_SampleWritesHooked):
    """Each write of samples first pushes another sample (a steady push) and waits until it is
    ready."""

    def __init__(self, client, buffer: SampleBuffer) -> None:
        super().__init__(client)
        self._buffer = buffer

    def before_sample_write(self) -> None:
        push(self._buffer, [3 + self.sample_writes])
        time.sleep(0.01)  # its entry id (Redis's clock, in ms) is now in the past


def test_a_pass_writes_what_was_ready_at_its_start_and_leaves_the_rest_to_the_next(
    buffer, influx, run
) -> None:
    # Chasing what becomes ready during the pass cost a batch (queries, write, acknowledgement)
    # per few new samples under a steady push.
    push(buffer, [1])
    push(buffer, [2])
    time.sleep(0.01)
    client = _PushingWhileWriting(influx, buffer)
    first = writer(buffer, client, batch_samples=1).flush()
    assert (first.samples, client.sample_writes) == (2, 2)
    assert buffer.depth() == 2  # pushed during the pass, after its start
    assert writer(buffer, influx).flush().samples == 2
    assert [p["watts"] for p in points(influx)] == [101.0, 102.0, 104.0, 105.0]
