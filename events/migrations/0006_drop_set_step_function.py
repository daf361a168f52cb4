"""Drop ``events_set_step``, the PostgreSQL function of migration 0004.

Step events now run the same ORM statements on every database (``events.services``): one
implementation of the event instead of a PL/pgSQL copy beside the Python one. Migrating back
creates the function again, as 0004 did, for the code of that time.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import migrations

_0004 = importlib.import_module("events.migrations.0004_set_step_function")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_0004.DROP)


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_0004.CREATE)


class Migration(migrations.Migration):
    dependencies = [("events", "0005_run_pod_protect")]

    operations = [migrations.RunPython(drop, create, elidable=False)]
