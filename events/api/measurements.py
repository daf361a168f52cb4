"""``POST /api/v1/measurements/``: measurements of many servers and sensors in one body."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from energylab.api.permissions import CanSendEvents, authorize_pods, may_name
from energylab.api.schema import WRITE_ERRORS, errors
from events import services
from events.api import pushbodies
from events.api import serializers as s

#: the ``source`` field of the points of pushed measurements
SOURCE = "push"


class MeasurementsView(APIView):
    """Measurement pushers (collectors, scripts, agents): event senders' credentials."""

    permission_classes = [CanSendEvents]
    throttle_scope = "measurements"

    @extend_schema(
        operation_id="measurements_create",
        summary="Push measurements of any servers",
        description=(
            "Measurements of any pods, servers and sensors in one body (up to 100,000), kept "
            "to the nanosecond. Unknown pods and servers are created (servers as push "
            "servers); a server named under another pod than its own is a 409. A measurement "
            "already received (same server, sensor and time to the nanosecond, within "
            "`ENERGYLAB_PUSH_SEEN_SECONDS`) is not stored again: a resent body adds nothing "
            "and answers `new: 0`. All or nothing: a 400 names the index and field of every "
            "bad measurement, and nothing of the body is stored."
        ),
        request={"application/json": s.MeasurementsBulkSerializer},
        responses={200: s.MeasurementsAnswerSerializer, **errors(*WRITE_ERRORS, 409)},
    )
    def post(self, request: Request) -> Response:
        body = pushbodies.decode(request, pushbodies.BulkBody)
        samples = pushbodies.bulk_samples(body, SOURCE)
        new_pods = authorize_pods(request, {sample.pod for sample in samples})
        try:
            new = services.record_samples(samples, new_pods=new_pods)
        except services.ServerOfAnotherPod as exc:
            if may_name(request, exc.pod):
                raise
            raise services.ServerOfAnotherPod(
                exc.pod, "a server of the body belongs to another pod than the one it is sent under"
            ) from None
        return Response({"received": len(samples), "new": new})
