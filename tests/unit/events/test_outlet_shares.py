"""A server fed by several outlets: the samples of each part, and each part's share of the
server's energy in reports (events.reports.parts)."""

from __future__ import annotations

import numpy as np
import pytest

from collectors.drivers.base import PowerReading
from collectors.models import BMCType, Pod, Server
from collectors.polling import PollOutcome, samples_from
from events.reports import energy
from events.reports.parts import parts_from, shares


def series(*points: tuple[float, float]) -> energy.Series:
    t, w = zip(*points, strict=True)
    return energy.Series(np.array(t, dtype=float), np.array(w, dtype=float))


def test_a_summed_reading_gives_the_sum_and_one_sample_per_part_at_the_same_time() -> None:
    server = Server(pk=7, pod=Pod(name="lab"), name="node", bmc_type=BMCType.SNMP)
    reading = PowerReading(
        300.0, 10**18, "snmp:apc#1+apc#2", parts=(("apc#1", 120.0), ("apc#2", 180.0))
    )

    samples = samples_from([PollOutcome(7, reading)], {7: server})

    assert [(s.sensor, s.unit, s.watts, s.measured_at_ns) for s in samples] == [
        ("power", "W", 300.0, 10**18),
        ("power:apc#1", "W", 120.0, 10**18),
        ("power:apc#2", "W", 180.0, 10**18),
    ]
    assert {(s.pod, s.server, s.source, s.energy_j) for s in samples} == {
        ("lab", "node", "snmp:apc#1+apc#2", None)
    }


def test_shares_split_the_servers_energy_in_the_ratio_of_the_parts_energies() -> None:
    a = series((0, 100.0), (1, 100.0), (2, 300.0), (3, 300.0))  # 100 W then 300 W
    b = series((0, 200.0), (1, 200.0), (2, 200.0), (3, 200.0))
    server = energy.integrate(series((0, 300.0), (1, 300.0), (2, 500.0), (3, 500.0)), 0, 3, 1)

    got = shares(server, {"pdu-b#4": b, "pdu-a#3": a}, [(0.0, 3.0)], 1.0)

    # a: 100 + 200 + 300 = 600 J, b: 600 J; the server: 1,200 J (its own figure, split)
    assert [p["name"] for p in got] == ["pdu-a#3", "pdu-b#4"]
    assert [p["share"] for p in got] == [0.5, 0.5]
    assert [p["energy_j"] for p in got] == [600.0, 600.0]
    assert got[0]["mean_w"] == 200.0
    assert got[0]["energy_wh"] == pytest.approx(600 / 3600, abs=1e-6)


def test_the_parts_add_up_to_the_servers_energy_over_pieces_and_whatever_its_method() -> None:
    a = series((0, 100.0), (2, 100.0), (4, 100.0))
    b = series((0, 300.0), (2, 300.0), (4, 300.0))
    server = energy.Figures(energy_j=1000.0, duration_s=4.0, sample_count=3, method="counter")

    got = shares(server, {"a": a, "b": b}, [(0.0, 1.5), (1.5, 4.0)], 2.0)

    assert [p["share"] for p in got] == [0.25, 0.75]
    assert sum(p["energy_j"] for p in got) == pytest.approx(1000.0)


def test_no_share_without_samples_of_parts_and_none_when_the_parts_drew_nothing() -> None:
    server = energy.integrate(series((0, 0.0), (1, 0.0)), 0, 1, 1)
    assert shares(server, {}, [(0.0, 1.0)], 1.0) == []
    assert shares(server, {"a": series((5, 10.0))}, [(0.0, 1.0)], 1.0) == []
    off = shares(server, {"a": series((0, 0.0), (1, 0.0))}, [(0.0, 1.0)], 1.0)
    assert [(p["name"], p["share"], p["energy_j"]) for p in off] == [("a", None, None)]


def test_the_parts_are_read_from_influxdbs_answer_by_server_and_outlet() -> None:
    raw = {
        "series": [
            {
                "name": "sensors",
                "tags": {"server": "node", "sensor": "power:10.0.0.2:apc#1"},
                "columns": ["time", "value"],
                # a time written twice (other run tags) counts once; its last value is kept
                "values": [[2_000_000, 120.0], [1_000_000, 110.0], [2_000_000, 125.0]],
            },
            {"tags": {"server": "node", "sensor": "temperature"}, "values": [[1, 30.0]]},
        ]
    }

    got = parts_from(raw)

    assert list(got) == ["node"]
    assert list(got["node"]) == ["10.0.0.2:apc#1"]
    part = got["node"]["10.0.0.2:apc#1"]
    assert part.t.tolist() == [1.0, 2.0]
    assert part.w.tolist() == [110.0, 125.0]
