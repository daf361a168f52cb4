"""Pods and servers: read and changed by users with the models' Django permissions."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from access import audit
from access.models import AuditAction
from collectors.api.filtersets import PodFilterSet, ServerFilterSet
from collectors.api.serializers import PodSerializer, ServerSerializer
from collectors.models import Pod, Server
from energylab.api.exceptions import Conflict
from energylab.api.permissions import ModelPermissions, ModelPermissionsWithView, visible_pods
from energylab.api.schema import READ_ERRORS, WRITE_ERRORS, errors
from energylab.api.serializers import DetailSerializer


def _crud_schema(serializer: type[Any]) -> Any:
    """The error answers of a model's CRUD routes, next to its serializer."""
    return extend_schema_view(
        list=extend_schema(responses={200: serializer(many=True), **errors(400, *READ_ERRORS)}),
        retrieve=extend_schema(responses={200: serializer, **errors(404, *READ_ERRORS)}),
        create=extend_schema(responses={201: serializer, **errors(*WRITE_ERRORS)}),
        update=extend_schema(responses={200: serializer, **errors(404, *WRITE_ERRORS)}),
        partial_update=extend_schema(responses={200: serializer, **errors(404, *WRITE_ERRORS)}),
        destroy=extend_schema(responses={204: None, **errors(404, *READ_ERRORS)}),
    )


POD_HAS_RUNS = OpenApiResponse(DetailSerializer, description="The pod has runs (its history).")


@extend_schema_view(
    destroy=extend_schema(responses={204: None, **errors(404, *READ_ERRORS), 409: POD_HAS_RUNS})
)
@_crud_schema(PodSerializer)
class PodViewSet(viewsets.ModelViewSet[Pod]):
    """Pods: read by any authenticated client, changed with the ``collectors.*_pod`` permissions."""

    queryset = Pod.objects.all()
    serializer_class = PodSerializer
    filterset_class = PodFilterSet
    permission_classes = [ModelPermissions]

    def get_queryset(self) -> Any:
        return Pod.objects.filter(visible_pods(self.request))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete a pod that has no runs: runs are history, and go only with their pod."""
        pod = self.get_object()
        try:
            pod.delete()
        except ProtectedError:
            runs = pod.runs.count()
            raise Conflict(
                f"pod {pod.name!r} has {runs} run{'s' if runs != 1 else ''}, which are never "
                "deleted; set active=false to stop polling it"
            ) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


@_crud_schema(ServerSerializer)
class ServerViewSet(viewsets.ModelViewSet[Server]):
    """Servers: read and changed only with the ``collectors.*_server`` permissions (BMC
    addresses and user names are credentials)."""

    queryset = Server.objects.select_related("pod")
    serializer_class = ServerSerializer
    filterset_class = ServerFilterSet
    permission_classes = [ModelPermissionsWithView]

    def get_queryset(self) -> Any:
        return Server.objects.select_related("pod").filter(visible_pods(self.request, "pod__"))

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            server = serializer.save()
            audit.record_server(audit.Actor.of(self.request), AuditAction.SERVER_CREATE, server)

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            server = serializer.save()
            changed = sorted(serializer.validated_data)
            audit.record_server(
                audit.Actor.of(self.request), AuditAction.SERVER_CHANGE, server, changed
            )

    def perform_destroy(self, instance: Server) -> None:
        with transaction.atomic():
            audit.record_server(audit.Actor.of(self.request), AuditAction.SERVER_DELETE, instance)
            instance.delete()
