"""Routes of the native events API, under ``/api/v1/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from events.api import measurements, reports, samples, views

router = SimpleRouter()
router.register("runs", views.RunViewSet)

urlpatterns = [
    path("events/", views.EventView.as_view(), name="event"),
    path("time/", views.TimeView.as_view(), name="time"),
    path("measurements/", measurements.MeasurementsView.as_view(), name="measurements"),
    path("runs/<int:pk>/energy/", reports.RunEnergyView.as_view(), name="run-energy"),
    path("runs/<int:pk>/samples/", samples.RunSamplesView.as_view(), name="run-samples"),
    path("energy/comparison/", reports.ScenarioComparisonView.as_view(), name="energy-comparison"),
    path("energy/change/", reports.EnergyChangeView.as_view(), name="energy-change"),
    path("energy/ranking/", reports.ScenarioRankingView.as_view(), name="energy-ranking"),
    *router.urls,
]
