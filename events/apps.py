from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Recordings: runs and steps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.api.authentication import connect_signals

        connect_signals()
