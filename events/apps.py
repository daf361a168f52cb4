from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Recordings: runs and steps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from energylab import health, metrics
        from energylab.api.authentication import connect_signals
        from events.health import writer_lag
        from events.metrics import SOURCE
        from events.reports import signals  # noqa: F401 - connects the receivers

        connect_signals()
        metrics.register(SOURCE)
        health.register("writer", writer_lag)
