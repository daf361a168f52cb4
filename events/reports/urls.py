"""Web pages of runs."""

from __future__ import annotations

from django.urls import path

from events.reports import comparison_pages, pages, scenario

app_name = "events"

urlpatterns = [
    path("", pages.run_list, name="run-list"),
    path("<int:pk>/", pages.run_detail, name="run-detail"),
    path("scenario/", scenario.scenario_page, name="scenario"),
    path("compare/", comparison_pages.compare, name="comparison"),
    path("ranking/", comparison_pages.ranking, name="ranking"),
]
