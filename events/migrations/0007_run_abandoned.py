"""Run.abandoned: a run closed at its last event after ENERGYLAB_RUN_MAX_IDLE without one.

On SQLite, adding a column rebuilds the run table (a copy, then a rename), which the step-count
triggers of 0003 refer to: SQLite refuses the rename while they exist. They are dropped first
and made again after (which recounts every run); PostgreSQL adds the column in place.
"""

import importlib
from typing import Any

from django.db import migrations, models

_step_count = importlib.import_module("events.migrations.0003_run_step_count")


def _on_sqlite(action: Any) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "sqlite":
            action(apps, schema_editor)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0006_set_step_function_answers_its_time"),
    ]

    operations = [
        migrations.RunPython(
            _on_sqlite(_step_count.drop), _on_sqlite(_step_count.create), elidable=False
        ),
        migrations.AddField(
            model_name="run",
            name="abandoned",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="No stop came: no event for ENERGYLAB_RUN_MAX_IDLE, so EnergyLab "
                "closed the run at its last event.",
            ),
        ),
        migrations.RunPython(
            _on_sqlite(_step_count.create), _on_sqlite(_step_count.drop), elidable=False
        ),
    ]
