"""Web pages of runs."""

from __future__ import annotations

from django.urls import path

from events import views

app_name = "events"

urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("<int:pk>/", views.run_detail, name="run-detail"),
]
