from __future__ import annotations

from django.apps import AppConfig


class CollectorsConfig(AppConfig):
    name = "collectors"
    verbose_name = "Lab: pods and servers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from collectors import signals  # noqa: F401 - connects the receivers
        from collectors.drivers import pyghmi_patches
        from collectors.metrics import SOURCE
        from energylab import metrics

        # Once per process at start, before any thread talks IPMI (the drivers and simulators
        # call it too, as a no-op here, for the processes that run them without Django).
        pyghmi_patches.apply()
        metrics.register(SOURCE)
