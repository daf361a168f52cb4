"""Run.step_count, kept by triggers on the step table.

Every event answers its run's step count; counting a run's steps on each event made an event of
a run of 2,500 steps cost PostgreSQL 2-5 times as much as one of a new run (measured with
pgbench). Triggers keep the count whoever changes steps (events, the admin, bulk_create, the
deletes of a run's cascade), on both databases; the column starts as the count of each run.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

POSTGRESQL = [
    """
    CREATE OR REPLACE FUNCTION events_step_count() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            UPDATE events_run SET step_count = step_count + 1 WHERE id = NEW.run_id;
        END IF;
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            UPDATE events_run SET step_count = step_count - 1 WHERE id = OLD.run_id;
        END IF;
        RETURN NULL;
    END
    $$;
    """,
    """
    CREATE TRIGGER events_step_count AFTER INSERT OR DELETE ON events_step
    FOR EACH ROW EXECUTE FUNCTION events_step_count();
    """,
    """
    CREATE TRIGGER events_step_count_move AFTER UPDATE OF run_id ON events_step
    FOR EACH ROW WHEN (OLD.run_id IS DISTINCT FROM NEW.run_id)
    EXECUTE FUNCTION events_step_count();
    """,
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS events_step_count_move ON events_step;",
    "DROP TRIGGER IF EXISTS events_step_count ON events_step;",
    "DROP FUNCTION IF EXISTS events_step_count();",
]

# SQLite drops a table's triggers with the table: a later migration that rebuilds events_step
# (SQLite's way to alter a column) must create these again.
SQLITE = [
    """
    CREATE TRIGGER events_step_count_insert AFTER INSERT ON events_step BEGIN
        UPDATE events_run SET step_count = step_count + 1 WHERE id = NEW.run_id;
    END;
    """,
    """
    CREATE TRIGGER events_step_count_delete AFTER DELETE ON events_step BEGIN
        UPDATE events_run SET step_count = step_count - 1 WHERE id = OLD.run_id;
    END;
    """,
    """
    CREATE TRIGGER events_step_count_move AFTER UPDATE OF run_id ON events_step
    WHEN OLD.run_id IS NOT NEW.run_id BEGIN
        UPDATE events_run SET step_count = step_count - 1 WHERE id = OLD.run_id;
        UPDATE events_run SET step_count = step_count + 1 WHERE id = NEW.run_id;
    END;
    """,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS events_step_count_move;",
    "DROP TRIGGER IF EXISTS events_step_count_delete;",
    "DROP TRIGGER IF EXISTS events_step_count_insert;",
]

COUNT_EVERY_RUN = """
    UPDATE events_run SET step_count = (
        SELECT count(*) FROM events_step WHERE events_step.run_id = events_run.id
    );
"""


def create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(vendor)
    if statements is None:
        raise NotImplementedError(f"EnergyLab runs on PostgreSQL or SQLite, not {vendor}")
    # Triggers first: creating them locks the step table against writes until the migration's
    # transaction ends, so no step lands between the count and the triggers.
    for statement in statements:
        schema_editor.execute(statement)
    schema_editor.execute(COUNT_EVERY_RUN)


def drop(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for statement in {"postgresql": POSTGRESQL_DROP, "sqlite": SQLITE_DROP}.get(vendor, []):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("events", "0002_updated_timestamps")]

    operations = [
        migrations.AddField(
            model_name="run",
            name="step_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
