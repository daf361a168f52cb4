"""``events_set_step`` answers the time it entered the step, and takes a retry as done.

- The function of migration 0004 stamped an event sent without a time under the pod's lock, but
  did not say which time it stamped: it now returns it (``o_at``), so the step event is still
  one round trip and answers the same ``RunState`` as the ORM path (``events.services``).
- A step event that names the running step and its start time is a retry of the event that
  entered it (a client that did not see the answer sends it again): it changes nothing and says
  so (``o_repeated``), where it used to record the step twice.

The rest is 0004's function unchanged. PostgreSQL cannot change a function's result columns in
place: the old one is dropped first.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import migrations

_0004 = importlib.import_module("events.migrations.0004_set_step_function")

CREATE = """
CREATE FUNCTION events_set_step(
    p_pod text, p_step text, p_at timestamptz, p_now timestamptz
)
RETURNS TABLE (
    o_run_id bigint, o_scenario text, o_started_at timestamptz, o_ended_at timestamptz,
    o_source text, o_received_at timestamptz, o_step_name text, o_step_started_at timestamptz,
    o_steps_counted bigint, o_applied boolean, o_at timestamptz, o_repeated boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_pod bigint;
    v_step bigint;
BEGIN
    SELECT p.id INTO v_pod FROM collectors_pod p WHERE p.name = p_pod FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- After the lock, in a statement of its own: read with the lock, a waiting event would see
    -- the steps as they were before the event it waited for.
    SELECT r.id, r.scenario, r.started_at, r.ended_at, r.source, r.received_at,
           s.id, s.name, s.started_at, r.step_count
      INTO o_run_id, o_scenario, o_started_at, o_ended_at, o_source, o_received_at,
           v_step, o_step_name, o_step_started_at, o_steps_counted
      FROM events_run r
      LEFT JOIN events_step s ON s.run_id = r.id AND s.ended_at IS NULL
     WHERE r.pod_id = v_pod AND r.ended_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- No time given: the event happens when it takes the pod's lock (at p_now, or at the running
    -- step's start if this process's clock is behind the one that stamped it), never out of order.
    o_at := coalesce(p_at, greatest(p_now, o_started_at, o_step_started_at));
    -- IS NOT DISTINCT FROM: with no running step, '=' would give NULL, and NOT NULL is no true.
    o_repeated := p_at IS NOT NULL AND o_step_name IS NOT DISTINCT FROM p_step
                  AND o_step_started_at IS NOT DISTINCT FROM p_at;
    o_applied := o_at >= o_started_at AND (o_step_started_at IS NULL OR o_at >= o_step_started_at);
    IF o_applied AND NOT o_repeated THEN
        IF v_step IS NOT NULL THEN
            UPDATE events_step SET ended_at = o_at, updated = p_now WHERE id = v_step;
        END IF;
        INSERT INTO events_step (run_id, name, started_at, ended_at, received_at, updated)
        VALUES (o_run_id, p_step, o_at, NULL, p_now, p_now);
    END IF;
    RETURN NEXT;
END
$$;
"""


def forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_0004.DROP)
        schema_editor.execute(CREATE)


def backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_0004.DROP)
        schema_editor.execute(_0004.CREATE)


class Migration(migrations.Migration):
    dependencies = [("events", "0005_run_pod_protect")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
