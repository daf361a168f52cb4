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

from energylab.api.permissions import CanRead, authorize_pod, visible_pods
from energylab.api.schema import READ_ERRORS, errors
from events.models import Run
from events.reports import comparison
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


def _set(text: str) -> comparison.RunSet:
    try:
        return comparison.parse_set(text)
    except comparison.BadSet as exc:
        raise serializers.ValidationError(str(exc)) from None


class ChangeQuery(serializers.Serializer[Any]):
    pod = serializers.CharField(trim_whitespace=False)
    scenario = serializers.CharField(trim_whitespace=False)
    a = serializers.CharField(trim_whitespace=False)
    b = serializers.CharField(trim_whitespace=False, default="last:5")
    limit = serializers.IntegerField(
        min_value=1, max_value=comparison.MAX_RUNS, default=comparison.DEFAULT_LIMIT
    )
    threshold_pct = serializers.FloatField(
        min_value=0, max_value=1000, default=comparison.DEFAULT_THRESHOLD_PCT
    )
    alpha = serializers.FloatField(
        min_value=0.0001, max_value=0.5, default=comparison.DEFAULT_ALPHA
    )

    def validate_a(self, value: str) -> comparison.RunSet:
        return _set(value)

    def validate_b(self, value: str) -> comparison.RunSet:
        return _set(value)


class EnergyChangeView(APIView):
    """Two sets of a scenario's runs per step: means, spread, difference with its confidence
    interval, Welch's t-test, effect size, and the steps that regressed."""

    permission_classes = [CanRead]

    @extend_schema(
        operation_id="energy_change",
        parameters=[
            OpenApiParameter("pod", str, required=True),
            OpenApiParameter("scenario", str, required=True),
            OpenApiParameter(
                "a", str, required=True, description="reference set: branch:NAME, last:N, runs:ID,…"
            ),
            OpenApiParameter("b", str, required=False, description="the change; default last:5"),
            OpenApiParameter("limit", int, required=False, description="runs of a branch set"),
            OpenApiParameter("threshold_pct", float, required=False, description="default 5"),
            OpenApiParameter("alpha", float, required=False, description="default 0.05"),
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(*READ_ERRORS, 400, 404)},
        description="docs/reports.md#comparing-two-sets-of-runs; 404 when set B has no ended run. A step is a regression when set B's energy is "
        "significantly (p < alpha) and more than threshold_pct above set A's.",
    )
    def get(self, request: Request) -> Response:
        query = ChangeQuery(data=request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        p = query.validated_data
        hidden = NotFound(f"no run of scenario {p['scenario']!r} on pod {p['pod']!r}")
        authorize_pod(request, p["pod"], write=False, hidden_as=hidden)
        try:
            return Response(
                comparison.compare_sets(
                    p["pod"],
                    p["scenario"],
                    p["a"],
                    p["b"],
                    limit=p["limit"],
                    threshold_pct=p["threshold_pct"],
                    alpha=p["alpha"],
                )
            )
        except comparison.NoRuns as exc:
            raise NotFound(str(exc)) from None
        except ReportUnavailable as exc:
            return unavailable(exc)


class RankingQuery(serializers.Serializer[Any]):
    pod = serializers.CharField(trim_whitespace=False)
    last = serializers.IntegerField(min_value=1, max_value=comparison.MAX_RUNS, default=5)


class ScenarioRankingView(APIView):
    """A pod's scenarios from the costliest down (mean energy of their last runs)."""

    permission_classes = [CanRead]

    @extend_schema(
        operation_id="energy_ranking",
        parameters=[
            OpenApiParameter("pod", str, required=True),
            OpenApiParameter("last", int, required=False, description="runs per scenario, 5"),
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(*READ_ERRORS, 400)},
    )
    def get(self, request: Request) -> Response:
        query = RankingQuery(data=request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        p = query.validated_data
        # Another team's pod ranks as an unknown one: no scenario.
        try:
            authorize_pod(request, p["pod"], write=False)
        except NotFound:
            return Response({"pod": p["pod"], "scenarios": []})
        try:
            return Response({"pod": p["pod"], "scenarios": comparison.ranking(p["pod"], p["last"])})
        except ReportUnavailable as exc:
            return unavailable(exc)
