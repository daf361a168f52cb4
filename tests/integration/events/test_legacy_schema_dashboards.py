"""With ``ENERGYLAB_INFLUXDB_LEGACY_SCHEMA``, what every path records answers the original
recorder's dashboard queries, run on the real InfluxDB.

The original (bherard/energyrecorder) ships no Grafana dashboard: neither its tree nor its
upstream history nor the OPNFV documentation of it holds one. Its dashboards were built by hand in
Grafana's InfluxQL editor on what its recording API writes (``recording-api/api/endpoints/
servers.py`` and ``equipements.py``):

- ``PowerMeasurement,hardware=…,environment=…,scenario=…,step=… power=…``;
- ``SensorMeasurement,equipement=…,environment=…,scenario=…,step=…[,topology…],sensor=…,unit=…
  value=…``, power included as ``sensor=power,unit=W``;

so :data:`DASHBOARD_QUERIES` are the queries that editor builds on that schema (panels by
hardware, by equipement and sensor, by scenario and step, by topology; template variables from
``SHOW TAG VALUES``), with Grafana's ``$timeFilter`` and ``$__interval`` filled in as it sends them.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from urllib.parse import quote

import pytest
from influxdb import InfluxDBClient
from rest_framework.test import APIClient

from collectors.drivers.base import PowerReading
from collectors.models import BMCType, Pod, Server
from collectors.polling import PollOutcome, samples_from
from energylab.api.testing import *  # noqa: F403 - fixtures
from events.ingest.buffer import SampleBuffer
from events.ingest.writer import InfluxWriter
from events.models import Run, Step

pytestmark = pytest.mark.django_db

SCENARIO = "boot then load"
STEP = "load step"
# One server per path a reading can come by, each with its own power.
PATHS = {
    "polled node": 101.0,  # the poller
    "legacy server": 202.0,  # POST /resources/servers/{name}/consumption
    "legacy equipment": 303.0,  # POST /resources/equipments/{name}/measurements
    "bulk node": 404.0,  # POST /api/v1/measurements/
    "agent node": 505.0,  # POST /write
}

DASHBOARD_QUERIES = {
    "power by hardware": (
        'SELECT mean("power") FROM "PowerMeasurement" WHERE ("environment" =~ /^{env}$/) '
        'AND $timeFilter GROUP BY time($__interval), "hardware" fill(none)'
    ),
    "power by equipement": (
        'SELECT mean("value") FROM "SensorMeasurement" WHERE ("environment" =~ /^{env}$/ '
        "AND \"sensor\" = 'power') AND $timeFilter "
        'GROUP BY time($__interval), "equipement" fill(none)'
    ),
    "power of a step": (
        'SELECT mean("value") FROM "SensorMeasurement" WHERE "environment" = \'{env}\' '
        "AND \"scenario\" = '{scenario}' AND \"step\" = '{step}' AND \"sensor\" = 'power' "
        'AND $timeFilter GROUP BY "equipement"'
    ),
    "temperature": (
        'SELECT last("value") FROM "SensorMeasurement" WHERE "environment" = \'{env}\' '
        'AND "sensor" = \'temperature\' AND "unit" = \'C\' AND $timeFilter GROUP BY "equipement"'
    ),
    "power by rack": (
        'SELECT sum("value") FROM "SensorMeasurement" WHERE "environment" = \'{env}\' '
        'AND "sensor" = \'power\' AND $timeFilter GROUP BY "rack"'
    ),
    "variable environment": 'SHOW TAG VALUES FROM "SensorMeasurement" WITH KEY = "environment"',
    "variable equipement": (
        'SHOW TAG VALUES FROM "SensorMeasurement" WITH KEY = "equipement" '
        'WHERE "environment" =~ /^{env}$/'
    ),
    "variable scenario": (
        'SHOW TAG VALUES FROM "PowerMeasurement" WITH KEY = "scenario" '
        'WHERE "environment" =~ /^{env}$/'
    ),
}


def tag(name: str) -> str:
    return name.replace(" ", "\\ ")


def grafana(query: str, env: str, start_ns: int, end_ns: int) -> str:
    """The query as Grafana sends it (the names here hold no regex or quote characters)."""
    text = query.replace("{env}", env).replace("{scenario}", SCENARIO).replace("{step}", STEP)
    time_filter = f"time >= {start_ns // 1_000_000}ms and time <= {end_ns // 1_000_000 + 1}ms"
    return text.replace("$timeFilter", time_filter).replace("$__interval", "1h")


@pytest.fixture
def env() -> str:
    return f"legacy lab {uuid.uuid4().hex[:6]}"


@pytest.fixture
def recorded(
    client: APIClient, buffer: SampleBuffer, influx: InfluxDBClient, env: str
) -> tuple[int, int]:
    """Readings of every path, inside a run's step, written with the legacy schema on."""
    pod = Pod.objects.create(name=env)
    polled = Server.objects.create(pod=pod, name="polled node", bmc_type=BMCType.IPMI, host="h")
    Server.objects.create(pod=pod, name="legacy server", bmc_type=BMCType.PUSH, rack="R1")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    run = Run.objects.create(pod=pod, scenario=SCENARIO, started_at=start)
    Step.objects.create(run=run, name=STEP, started_at=start)
    t = time.time_ns() - 10 * 10**9

    # a server fed by two PDU outlets: its power is their sum, each outlet its own sensor
    outlets = (("apc#1", 60.0), ("apc#2", PATHS["polled node"] - 60.0))
    reading = PowerReading(PATHS["polled node"], t, "snmp:apc#1+apc#2", parts=outlets)
    buffer.push(samples_from([PollOutcome(polled.pk, reading)], {polled.pk: polled}))
    answers = [
        client.post(
            f"/resources/servers/{quote('legacy server')}/consumption",
            {"environment": env, "power": PATHS["legacy server"], "time": t},
            format="json",
        ),
        client.post(
            f"/resources/equipments/{quote('legacy equipment')}/measurements",
            {
                "environment": env,
                "measurements": [
                    {"sensor": "power", "unit": "W", "value": PATHS["legacy equipment"], "time": t},
                    {"sensor": "temperature", "unit": "C", "value": 38.5, "time": t},
                ],
            },
            format="json",
        ),
        client.post(
            "/api/v1/measurements/",
            {"measurements": [{"pod": env, "server": "bulk node", "value": 404, "time": t}]},
            format="json",
        ),
        client.generic(
            "POST",
            "/write?db=telegraf",
            f"power,pod={tag(env)},server=agent\\ node watts=505 {t}",
            content_type="text/plain",
        ),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 204], [a.content for a in answers]
    stats = InfluxWriter(buffer, influx, delay=0, legacy_schema=True).flush()
    assert (stats.error, stats.rejected) == (None, 0)
    return t, t


def series(influx: InfluxDBClient, query: str) -> dict[str, list[dict]]:
    """Points of each series of a query's answer, by the series' one tag value."""
    result = influx.query(query)
    out: dict[str, list[dict]] = {}
    for (_, tags), points in result.items():
        key = next(iter(tags.values())) if tags else ""
        out[key] = list(points)
    return out


def test_every_path_answers_the_power_panels_by_hardware_and_by_equipement(
    influx: InfluxDBClient, recorded: tuple[int, int], env: str
) -> None:
    by_hardware = series(influx, grafana(DASHBOARD_QUERIES["power by hardware"], env, *recorded))
    assert {k: v[0]["mean"] for k, v in by_hardware.items()} == PATHS
    by_equipement = series(
        influx, grafana(DASHBOARD_QUERIES["power by equipement"], env, *recorded)
    )
    assert {k: v[0]["mean"] for k, v in by_equipement.items()} == PATHS


def test_the_step_panel_finds_the_readings_under_the_run_scenario_and_step(
    influx: InfluxDBClient, recorded: tuple[int, int], env: str
) -> None:
    got = series(influx, grafana(DASHBOARD_QUERIES["power of a step"], env, *recorded))
    assert {k: v[0]["mean"] for k, v in got.items()} == PATHS


def test_other_sensors_and_topology_tags_are_queryable(
    influx: InfluxDBClient, recorded: tuple[int, int], env: str
) -> None:
    temperature = series(influx, grafana(DASHBOARD_QUERIES["temperature"], env, *recorded))
    assert {k: v[0]["last"] for k, v in temperature.items()} == {"legacy equipment": 38.5}
    racks = series(influx, grafana(DASHBOARD_QUERIES["power by rack"], env, *recorded))
    assert racks["R1"][0]["sum"] == PATHS["legacy server"]


def test_the_template_variables_list_the_environment_equipements_and_scenario(
    influx: InfluxDBClient, recorded: tuple[int, int], env: str
) -> None:
    def values(key: str) -> set[str]:
        query = grafana(DASHBOARD_QUERIES[f"variable {key}"], env, *recorded)
        return {p["value"] for p in influx.query(query).get_points()}

    assert env in values("environment")
    assert values("equipement") == set(PATHS)
    assert values("scenario") == {SCENARIO}


def test_readings_outside_a_run_are_written_as_the_original_always_record_did(
    buffer: SampleBuffer, influx: InfluxDBClient, env: str
) -> None:
    pod = Pod.objects.create(name=env)
    server = Server.objects.create(pod=pod, name="idle node", bmc_type=BMCType.IPMI, host="h")
    reading = PowerReading(90.0, time.time_ns() - 10**9, "dcmi")
    buffer.push(samples_from([PollOutcome(server.pk, reading)], {server.pk: server}))
    InfluxWriter(buffer, influx, delay=0, legacy_schema=True).flush()
    (point,) = influx.query('SELECT * FROM "SensorMeasurement"').get_points()
    assert (point["scenario"], point["step"], point["equipement"]) == ("n/s", "n/s", "idle node")
    assert (point["sensor"], point["unit"], point["value"]) == ("power", "W", 90.0)


def test_a_server_fed_by_two_outlets_is_its_sum_in_the_power_panels_and_each_outlet_a_sensor(
    influx: InfluxDBClient, recorded: tuple[int, int], env: str
) -> None:
    query = (
        'SELECT last("value") FROM "SensorMeasurement" WHERE "environment" = \'{env}\' '
        'AND "equipement" = \'polled node\' AND $timeFilter GROUP BY "sensor"'
    )
    got = series(influx, grafana(query, env, *recorded))
    assert {k: v[0]["last"] for k, v in got.items()} == {
        "power": PATHS["polled node"],
        "power:apc#1": 60.0,
        "power:apc#2": PATHS["polled node"] - 60.0,
    }
