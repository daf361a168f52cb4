"""Routes of pods and servers, under ``/api/v1/``."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from collectors.api import views

router = SimpleRouter()
router.register("pods", views.PodViewSet)
router.register("servers", views.ServerViewSet)

urlpatterns = router.urls
