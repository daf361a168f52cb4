"""No Celery time limit that the worker's threads pool would silently ignore."""

from __future__ import annotations

from energylab.celery import app


def test_no_task_sets_a_time_limit_the_threads_pool_ignores() -> None:
    # The threads pool (the default, ENERGYLAB_CELERY_POOL) cannot stop a thread: a limit
    # would read as a guard that is not there. Tasks bound themselves instead.
    app.loader.import_default_modules()
    ours = {n: t for n, t in app.tasks.items() if n.startswith(("collectors.", "events."))}
    assert {"collectors.tasks.poll_pod_shard", "events.tasks.flush_samples"} <= set(ours)
    limited = {n for n, t in ours.items() if t.soft_time_limit or t.time_limit}
    assert limited == set()
    assert app.conf.task_time_limit is None
    assert app.conf.task_soft_time_limit is None
