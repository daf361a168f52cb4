"""Each part's share of a server fed by several outlets (or read as several PSU sensors).

A reading that is a sum is stored as the server's ``power`` sample, the sum, and one
``sensors`` sample per part, ``sensor=power:<part name>``, at the same time
(:data:`events.ingest.buffer.PART_SENSOR_PREFIX`). The server's energy is the sum's, as for
any server; this module splits it: each part's share is its own samples' energy over the
interval (integrated as the server's are, :func:`events.reports.energy.integrate`) over the
parts' total, and its energy is that share of the server's energy, so the parts add up to the
server exactly, whatever method (trapezoid, counter) gave the server's figure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from events.ingest.buffer import PART_SENSOR_PREFIX
from events.ingest.lineprotocol import ZERO_WIDTH_SPACE
from events.reports import energy

# Constant text, no input in it; the pod and times are bound parameters.
PARTS_QUERY = (
    'SELECT "value" FROM "sensors" WHERE "pod" = $pod AND "sensor" =~ /^power:/ '
    'AND time >= $start AND time <= $end GROUP BY "server", "sensor"'
)

#: {server: {part name: its samples}}
Parts = dict[str, dict[str, energy.Series]]


def _name(tag: str) -> str:
    # Undo the writer's only change to a name (see events.ingest.lineprotocol).
    return tag.replace("\\" + ZERO_WIDTH_SPACE, "\\")


def parts_from(raw: Mapping[str, Any]) -> Parts:
    """The parts' samples of :data:`PARTS_QUERY`'s raw answer (times in µs), sorted, one
    per instant (the last of a time written twice under other run tags)."""
    found: Parts = defaultdict(dict)
    for series in raw.get("series") or []:
        tags = series.get("tags") or {}
        sensor = _name(tags.get("sensor", ""))
        rows = [(t, v) for t, v in series.get("values") or [] if v is not None]
        if not sensor.startswith(PART_SENSOR_PREFIX) or not rows:
            continue
        t = np.array([r[0] for r in rows], dtype=np.int64)
        w = np.array([r[1] for r in rows], dtype=np.float64)
        order = np.argsort(t, kind="stable")
        t, w = t[order], w[order]
        keep = np.append(t[1:] != t[:-1], True)
        name = sensor[len(PART_SENSOR_PREFIX) :]
        found[_name(tags.get("server", ""))][name] = energy.Series(t[keep] / 1e6, w[keep])
    return dict(found)


def shares(
    server: energy.Figures,
    parts: Mapping[str, energy.Series],
    pieces: Sequence[tuple[float, float]],
    poll_interval: float,
) -> list[dict[str, Any]]:
    """Each part's share and energy over the consecutive ``pieces`` of an interval whose
    server figures are ``server``, by part name; empty when no part has a sample there (the
    server is not a sum, or its parts were not stored then).

    ``share`` is the part's energy over the parts' total (0..1; their shares add up to 1),
    ``energy_j`` that share of the server's energy; both None when unknown (the parts drew
    nothing, or the server's energy is unknown: then only ``energy_j``).
    """
    measured: dict[str, float] = {}
    for name, series in sorted(parts.items()):
        figures = [energy.integrate(series, a, b, poll_interval) for a, b in pieces]
        used = [f for f in figures if f.method != energy.METHOD_NONE]
        if used:
            measured[name] = sum(f.energy_j for f in used)
    whole = sum(measured.values())
    # Nothing drawn at all (a server off): no share to tell, and no energy to split.
    divisible = math.isfinite(whole) and whole > 0
    known = divisible and server.method != energy.METHOD_NONE and math.isfinite(server.energy_j)
    out = []
    for name, part_j in measured.items():
        share = part_j / whole if divisible else None
        energy_j = share * server.energy_j if known and share is not None else None
        out.append(
            {
                "name": name,
                "share": None if share is None else round(share, 4),
                "energy_j": None if energy_j is None else round(energy_j, 3),
                "energy_wh": None if energy_j is None else round(energy_j / 3600, 6),
                "mean_w": (
                    round(energy_j / server.duration_s, 3)
                    if energy_j is not None and server.duration_s > 0
                    else None
                ),
            }
        )
    return out
