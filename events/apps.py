from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Recordings: runs and steps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from energylab import metrics
        from energylab.api.authentication import connect_signals
        from events.metrics import SOURCE

        connect_signals()
        metrics.register(SOURCE)
