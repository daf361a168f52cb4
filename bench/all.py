"""`make bench`: every benchmark at a size that fits about ten minutes on a 2-core machine, one
table of figures beside their goals, and the whole as JSON under var/bench/ for comparing
commits.

    .venv/bin/python bench/all.py [--only poll,ingest,...] [--out DIR]

Each benchmark runs as its own process (as a person would run it), writes its JSON, and this
script gathers them. A benchmark that crashes is reported as such; the others still run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, script, arguments, time limit in seconds): sizes chosen so that the whole fits about
# ten minutes. "poll-capacity" asks 1,000 polls/s of 2,000 BMCs (a 2 s interval), more than the
# drivers give here, so its pipeline / bare ratio measures the pipeline's capacity; at 5 s the
# schedule asks only 400/s and that ratio is bounded by the demand.
BENCHES: list[tuple[str, str, list[str], int]] = [
    ("sdk", "sdk", ["--size", "20000"], 120),
    ("events", "events", ["--seconds", "10"], 180),
    ("push", "push", ["--seconds", "8", "--runs", "2"], 300),
    ("ingest", "ingest", ["--size", "200000"], 240),
    ("report", "report", ["--repeat", "2"], 240),
    ("history", "history", ["--repeat", "5"], 120),
    ("poll", "poll", ["--size", "100,500,2000", "--seconds", "25"], 480),
    ("poll-capacity", "poll", ["--size", "2000", "--interval", "2", "--seconds", "20"], 240),
]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run(name: str, script: str, args: list[str], limit: int, tmp: Path) -> dict[str, object]:
    out = tmp / f"{name}.json"
    started = time.monotonic()
    print(f"--- bench/{script}.py {' '.join(args)}", flush=True)
    try:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / f"{script}.py"), *args, "--json", str(out)],
            cwd=ROOT,
            timeout=limit,
        )
        status = "ok" if proc.returncode == 0 else f"crashed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        status = f"stopped after {limit} s"
    result: dict[str, object] = {
        "bench": name,
        "status": status,
        "seconds": round(time.monotonic() - started, 1),
    }
    if out.exists():
        loaded = json.loads(out.read_text())
        result.update(loaded, bench=name, title=loaded.get("bench"))
    return result


def fmt(value: object) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    if value != value:
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", help="comma-separated names among " + ", ".join(b[0] for b in BENCHES)
    )
    parser.add_argument("--out", default=str(ROOT / "var" / "bench"), help="where the JSON goes")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else {b[0] for b in BENCHES}
    unknown = wanted - {b[0] for b in BENCHES}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, bench_args, limit in BENCHES:
            if name in wanted:
                results.append(run(name, script, bench_args, limit, Path(tmp)))

    print()
    print(f"== EnergyLab benchmarks, commit {git_commit()}, {dt.datetime.now():%Y-%m-%d %H:%M} ==")
    print(f"{'bench':<13} {'figure':<40} {'value':>12} {'unit':<9} {'goal':<16} status")
    for result in results:
        rows = result.get("rows") or []
        if not rows:
            print(
                f"{result['bench']:<13} {'(no figures)':<40} {'':>12} {'':<9} {'':<16} {result['status']}"
            )
        for row in rows:  # type: ignore[union-attr]
            status = {True: "MET", False: "MISSED", None: ""}[row.get("met")]
            line = (
                f"{result['bench']:<13} {row['name'][:40]:<40} {fmt(row.get('value')):>12} "
                f"{row.get('unit', ''):<9} {row.get('goal', ''):<16} {status:<6}"
            )
            # The note says how a figure was read (a median of several loads, its spread).
            print(line.rstrip() + (f"  ({row['note']})" if row.get("note") else ""))
        if result["status"] != "ok":
            print(f"{result['bench']:<13} {'!! ' + str(result['status']):<40}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{git_commit()}.json"
    path.write_text(
        json.dumps({"commit": git_commit(), "results": results}, indent=2, default=str) + "\n"
    )
    print(f"\nwritten to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
