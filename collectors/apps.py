from __future__ import annotations

from django.apps import AppConfig


class CollectorsConfig(AppConfig):
    name = "collectors"
    verbose_name = "Lab: pods and servers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from collectors import signals  # noqa: F401 - connects the receivers
        from collectors.metrics import SOURCE
        from energylab import metrics

        metrics.register(SOURCE)
