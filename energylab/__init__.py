"""EnergyLab: how much energy each CI scenario, and each step in it, costs on a lab's servers."""

from __future__ import annotations

from energylab.celery import app as celery_app

__all__ = ["celery_app"]
