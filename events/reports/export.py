"""A run's raw samples, read from InfluxDB in chunks and written as CSV or JSON lines.

What ``GET /api/v1/runs/{id}/samples/`` streams (docs/api.md): every sample of the run's pod
between the run's start and its end (or now), power and the other sensors alike, with the step
the run was in at the sample's time. The step is looked up in the run's steps, not read from the
point's tags, for the reason reports do so (a late event leaves the tags behind). Memory stays
bounded whatever the run's length: InfluxDB answers in chunks of ``CHUNK_ROWS`` rows, and each
chunk is written out before the next is read.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from django.utils import timezone
from influxdb.exceptions import InfluxDBClientError, InfluxDBServerError

from energylab.timestamps import rfc3339_ns, to_ns
from events.influx import make_client
from events.ingest.lineprotocol import name_of_tag, tag_value
from events.models import Run
from events.reports.report import ReportUnavailable

CSV = "csv"
JSONL = "jsonl"
FORMATS = (CSV, JSONL)

#: the columns of both formats, in this order
COLUMNS = ("time", "time_ns", "server", "sensor", "unit", "value", "energy_j", "step")

# Rows per chunk of InfluxDB's answer (about 80 kB of CSV), read and written one at a time. Not
# more: the client reads a chunk, one line of JSON, with requests' iter_lines, which splits the
# whole line read so far again after every 512 bytes; 10,000 rows a chunk spent more time there
# than in everything else (measured), 1,000 a tenth of it.
CHUNK_ROWS = 1000

# Power and the other sensors in one query: InfluxDB answers series after series (measurement,
# then server, sensor and unit), each in time order.
SAMPLES_QUERY = (
    'SELECT "watts", "energy_j", "value" FROM "power", "sensors" '
    'WHERE "pod" = $pod AND time >= $start AND time <= $end GROUP BY "server", "sensor", "unit"'
)


@dataclass(frozen=True)
class Steps:
    """The steps of a run in time order, to tell the step at an instant (``""``: none)."""

    starts: list[int]
    ends: list[int | None]
    names: list[str]

    @classmethod
    def of(cls, run: Run) -> Steps:
        rows = list(
            run.steps.order_by("started_at", "id").values_list("started_at", "ended_at", "name")
        )
        return cls(
            [to_ns(start) for start, _, _ in rows],
            [None if end is None else to_ns(end) for _, end, _ in rows],
            [name for _, _, name in rows],
        )

    def at(self, t_ns: int) -> str:
        index = bisect.bisect_right(self.starts, t_ns) - 1
        if index < 0:
            return ""
        end = self.ends[index]
        return self.names[index] if end is None or t_ns < end else ""


Row = tuple[str, int, str, str, str, float, float | None, str]  # the values of COLUMNS


def chunks_of_rows(run: Run) -> Iterator[list[Row]]:
    """The run's samples as rows (a tuple per sample, in the order of :data:`COLUMNS`), a list
    per chunk.

    The query is sent when the first chunk is asked for.

    :raises ReportUnavailable: InfluxDB cannot be queried (from the first ``next()``: a failure
        later ends the iteration with the same error, the answer then being cut short).
    """
    steps = Steps.of(run)
    start = to_ns(run.started_at)
    end = to_ns(run.ended_at or timezone.now())
    client = make_client(json_answers=True, timeout=60.0)
    try:
        answer = client.query(
            SAMPLES_QUERY,
            bind_params={"pod": tag_value(run.pod.name), "start": start, "end": end},
            epoch="ns",
            chunked=True,
            chunk_size=CHUNK_ROWS,
        )
        for result in answer:
            rows: list[Row] = []
            for series in result.raw.get("series") or []:
                rows.extend(_rows(series, steps))
            if rows:
                yield rows
    except (requests.RequestException, InfluxDBClientError, InfluxDBServerError) as exc:
        raise ReportUnavailable(f"InfluxDB cannot be queried: {type(exc).__name__}") from None
    finally:
        client.close()


def _rows(series: dict[str, Any], steps: Steps) -> Iterator[Row]:
    tags = series.get("tags") or {}
    power = series.get("name") == "power"
    server = name_of_tag(tags.get("server") or "")
    sensor = "power" if power else name_of_tag(tags.get("sensor") or "")
    unit = "W" if power else name_of_tag(tags.get("unit") or "")
    columns = series["columns"]
    at_time, at_value = columns.index("time"), columns.index("watts" if power else "value")
    at_energy = columns.index("energy_j") if power else None
    for values in series.get("values") or []:
        value = values[at_value]
        if value is None:  # a point of the other measurement's fields only
            continue
        t_ns = int(values[at_time])
        energy = None if at_energy is None else values[at_energy]
        # InfluxDB's JSON writes a whole float as an integer: values are floats, always.
        yield (
            rfc3339_ns(t_ns),
            t_ns,
            server,
            sensor,
            unit,
            float(value),
            None if energy is None else float(energy),
            steps.at(t_ns),
        )


def csv_header() -> bytes:
    return csv_chunk([COLUMNS])


def csv_chunk(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows as CSV (RFC 4180: quoted when needed, CRLF); an absent value is an empty field."""
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def jsonl_chunk(rows: Sequence[Row]) -> bytes:
    """Rows as JSON lines: one object per line (keys :data:`COLUMNS`), ``null`` for an absent
    value."""
    encode = _JSON.encode
    return "".join(encode(dict(zip(COLUMNS, row, strict=True))) + "\n" for row in rows).encode(
        "utf-8"
    )
