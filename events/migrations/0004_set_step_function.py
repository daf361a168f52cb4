"""The step event as one PostgreSQL function: one round trip instead of six.

A step event locks its pod, reads the running run with its running step and step count, ends
that step and inserts the new one. Sent as statements, that is BEGIN, four statements and COMMIT:
six round trips, each costing the web process and PostgreSQL more CPU than the work they carry
(measured: events/s under load were bound by CPU, not by the database's work). Called in
autocommit, the function is its own transaction. ``events.services.set_step`` calls it on
PostgreSQL and keeps its Python statements for SQLite; both pass the same tests.

The function decides nothing the Python code does not also check: when the event is before the
run's start or its running step's start, it changes nothing and says so (``applied`` false), and
Python raises the error with its message from the row returned. No row: the pod is unknown or
runs nothing.

Tables and columns are named as they are at this migration; a later migration that renames or
changes them must replace the function (the API tests on PostgreSQL would fail otherwise).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION events_set_step(
    p_pod text, p_step text, p_at timestamptz, p_now timestamptz
)
RETURNS TABLE (
    o_run_id bigint, o_pod_id bigint, o_scenario text, o_started_at timestamptz,
    o_ended_at timestamptz, o_source text, o_received_at timestamptz,
    o_step_id bigint, o_step_name text, o_step_started_at timestamptz,
    o_steps_counted bigint, o_applied boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_pod bigint;
    v_at timestamptz;
BEGIN
    SELECT p.id INTO v_pod FROM collectors_pod p WHERE p.name = p_pod FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT r.id, r.pod_id, r.scenario, r.started_at, r.ended_at, r.source, r.received_at,
           s.id, s.name, s.started_at, r.step_count
      INTO o_run_id, o_pod_id, o_scenario, o_started_at, o_ended_at, o_source, o_received_at,
           o_step_id, o_step_name, o_step_started_at, o_steps_counted
      FROM events_run r
      LEFT JOIN events_step s ON s.run_id = r.id AND s.ended_at IS NULL
     WHERE r.pod_id = v_pod AND r.ended_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- No time given: the event happens when it takes the pod's lock (at p_now, or at the running
    -- step's start if this process's clock is behind the one that stamped it), never out of order.
    v_at := coalesce(p_at, greatest(p_now, o_started_at, o_step_started_at));
    o_applied := v_at >= o_started_at AND (o_step_started_at IS NULL OR v_at >= o_step_started_at);
    IF o_applied THEN
        IF o_step_id IS NOT NULL THEN
            UPDATE events_step SET ended_at = v_at, updated = p_now WHERE id = o_step_id;
        END IF;
        INSERT INTO events_step (run_id, name, started_at, ended_at, received_at, updated)
        VALUES (o_run_id, p_step, v_at, NULL, p_now, p_now);
    END IF;
    RETURN NEXT;
END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS events_set_step(text, text, timestamptz, timestamptz);"


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("events", "0003_run_step_count"), ("collectors", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
