"""Pods and servers: read and changed by users with the models' Django permissions."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Model, ProtectedError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from access import audit
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


_Model = TypeVar("_Model", bound=Model)


class AuditedModelViewSet(viewsets.ModelViewSet[_Model]):
    """Creates, changes and deletes committed with their audit entry (access.audit), or neither."""

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            audit.record_change(audit.Actor.of(self.request), "create", serializer.save())

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            obj = serializer.save()
            audit.record_change(
                audit.Actor.of(self.request), "change", obj, serializer.validated_data
            )

    def perform_destroy(self, instance: Any) -> None:
        with transaction.atomic():
            audit.record_change(audit.Actor.of(self.request), "delete", instance)
            instance.delete()


@extend_schema_view(
    destroy=extend_schema(responses={204: None, **errors(404, *READ_ERRORS), 409: POD_HAS_RUNS})
)
@_crud_schema(PodSerializer)
class PodViewSet(AuditedModelViewSet[Pod]):
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
            self.perform_destroy(pod)
        except ProtectedError:
            runs = pod.runs.count()
            raise Conflict(
                f"pod {pod.name!r} has {runs} run{'s' if runs != 1 else ''}, which are never "
                "deleted; set active=false to stop polling it"
            ) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


@_crud_schema(ServerSerializer)
class ServerViewSet(AuditedModelViewSet[Server]):
    """Servers: read and changed only with the ``collectors.*_server`` permissions (BMC
    addresses and user names are credentials)."""

    queryset = Server.objects.select_related("pod")
    serializer_class = ServerSerializer
    filterset_class = ServerFilterSet
    permission_classes = [ModelPermissionsWithView]

    def get_queryset(self) -> Any:
        return Server.objects.select_related("pod").filter(visible_pods(self.request, "pod__"))
