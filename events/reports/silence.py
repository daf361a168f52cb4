"""Why a run has no samples, in words a lab can act on.

"No samples" alone does not say what to fix. The usual causes, each checked on the pod as it is
now: the pod is inactive, it has no server to poll, no worker reads its queue (its servers are
stale, :mod:`collectors.health`), or its BMCs fail.
"""

from __future__ import annotations

from collectors import health
from collectors.models import Pod


def why_no_samples(pod: Pod) -> list[str]:
    """The reasons the pod's servers sent no sample, most fundamental first (empty: none known)."""
    if not pod.active:
        return [f"pod {pod.name!r} is inactive: its servers are not polled"]
    servers = list(pod.servers.select_related("pod").filter(active=True))
    if not servers:
        return [f"pod {pod.name!r} has no active server: add its servers (admin or API)"]
    reasons = []
    by_state: dict[str, list[str]] = {}
    for server in servers:
        by_state.setdefault(server.health, []).append(server.name)
    stale = by_state.get(health.STALE, [])
    if stale:
        reasons.append(
            f"no worker seems to read queue {pod.queue!r}: {_names(stale)} not polled for "
            f"{health.STALE_INTERVALS} poll intervals (start `celery -A energylab worker -Q "
            f"{pod.queue}` where it can reach the BMCs, and beat)"
        )
    failing = [
        server for server in servers if server.health in (health.FAILING, health.CIRCUIT_OPEN)
    ]
    for server in failing:
        reasons.append(
            f"the BMC of {server.name!r} fails ({server.consecutive_failures} time(s) in a row): "
            f"{server.last_error or 'no error text'}"
        )
    pushed = by_state.get(health.PUSHED, [])
    if pushed and len(pushed) == len(servers):
        reasons.append(f"{_names(pushed)} push their own measurements: none arrived")
    return reasons


def _names(names: list[str], shown: int = 5) -> str:
    listed = ", ".join(repr(n) for n in sorted(names)[:shown])
    more = len(names) - shown
    return f"servers {listed}" + (f" and {more} more" if more > 0 else "")
