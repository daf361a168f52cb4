"""Energy reports over the API: one run's, and a scenario's runs compared.

The JSON is :func:`events.reports.report.run_report`'s, documented in docs/reports.md.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from energylab.api.permissions import CanRead, visible_pods
from energylab.api.schema import READ_ERRORS, errors
from events.models import Run
from events.reports.report import ReportUnavailable, compare_runs, run_report


def unavailable(exc: ReportUnavailable) -> Response:
    return Response({"detail": str(exc)}, status=503)


class RunEnergyView(APIView):
    """Energy of a run per step and per server, with coverage and warnings."""

    permission_classes = [CanRead]

    @extend_schema(
        operation_id="runs_energy",
        responses={200: OpenApiTypes.OBJECT, **errors(*READ_ERRORS, 404)},
        description="The run's energy report (docs/reports.md): `run`, `steps` (each with "
        "`servers`), `total`, `idle`, `warnings`, and `final` (false while the run's last "
        "samples may still be on their way to InfluxDB; `final_after` says about when).",
    )
    def get(self, request: Request, pk: int) -> Response:
        run = (
            Run.objects.select_related("pod").filter(visible_pods(request, "pod__"), pk=pk).first()
        )
        if run is None:
            raise NotFound(f"no run with id {pk}")
        try:
            return Response(run_report(run))
        except ReportUnavailable as exc:
            return unavailable(exc)


class ComparisonQuery(serializers.Serializer[Any]):
    pod = serializers.CharField(trim_whitespace=False)
    scenario = serializers.CharField(trim_whitespace=False)
    last = serializers.IntegerField(min_value=1, max_value=100, default=10)


class ScenarioComparisonView(APIView):
    """The last runs of a scenario on a pod side by side: energy, spread, regressions."""

    permission_classes = [CanRead]

    @extend_schema(
        operation_id="energy_comparison",
        parameters=[
            OpenApiParameter("pod", str, required=True),
            OpenApiParameter("scenario", str, required=True),
            OpenApiParameter("last", int, required=False, description="1 to 100, default 10"),
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(*READ_ERRORS, 400, 404)},
    )
    def get(self, request: Request) -> Response:
        query = ComparisonQuery(data=request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        params = query.validated_data
        runs = list(
            Run.objects.select_related("pod")
            .filter(visible_pods(request, "pod__"))
            .filter(pod__name=params["pod"], scenario=params["scenario"])
            .order_by("-started_at")[: params["last"]]
        )
        if not runs:
            raise NotFound(f"no run of scenario {params['scenario']!r} on pod {params['pod']!r}")
        try:
            return Response(compare_runs(runs))
        except ReportUnavailable as exc:
            return unavailable(exc)
