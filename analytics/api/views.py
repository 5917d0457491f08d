"""HTTP endpoints: validate, call one selector, serialize. Nothing else lives here."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from rest_framework import exceptions
from rest_framework.metadata import BaseMetadata
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.caching import cached_heatmap, conditional_response
from analytics.api.renderers import FormatParamNegotiation, HeatmapCSVRenderer
from analytics.api.reporting import report_answer
from analytics.api.serializers import HeatmapQuerySerializer, HeatmapSerializer
from analytics.api.throttling import HeatmapAgencyRateThrottle, HeatmapUserRateThrottle
from analytics.auth.authentication import BelongsToAgency, SupabaseJWTAuthentication, agency_id_of
from analytics.exceptions import exception_handler
from analytics.heatmap.measure import measuring
from analytics.heatmap.query import HeatmapQuery


class MethodsOnlyMetadata(BaseMetadata):
    """DRF's ``SimpleMetadata`` answers with the view's name and docstring: text for the
    code's readers, not for callers. The contract is in the OpenAPI description;
    ``OPTIONS`` keeps to what ``Allow`` and negotiation already tell.
    """

    def determine_metadata(self, request: Request, view: APIView) -> dict[str, Any]:
        return {
            "methods": list(view.allowed_methods),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
        }


class CallHeatmapApi(APIView):
    """``GET``: the caller's agency's ended calls by weekday and hour, and the best times.

    Everything the view depends on is declared here, so a host project's
    ``REST_FRAMEWORK`` defaults cannot change how it authenticates or renders.
    JSON unless ``?format=csv`` or ``Accept: text/csv`` asks for CSV (as
    ``CallHeatmapCsvApi`` always answers); errors are always JSON, shaped by
    ``analytics.exceptions.exception_handler``. Its OpenAPI description is in
    ``analytics.api.schema``.
    """

    authentication_classes = [SupabaseJWTAuthentication]
    permission_classes = [BelongsToAgency]
    # JSON first: it answers ``*/*`` and errors raised before negotiation.
    renderer_classes = [JSONRenderer, HeatmapCSVRenderer]
    content_negotiation_class = FormatParamNegotiation
    parser_classes: list[Any] = []
    # The user's own rate, then their agency's: one user cannot spend the agency's.
    throttle_classes = [HeatmapUserRateThrottle, HeatmapAgencyRateThrottle]
    # OPTIONS says what the endpoint does, never this class's docstring.
    metadata_class = MethodsOnlyMetadata
    http_method_names = ["get", "head", "options"]
    #: The request's checked query, once it passed: what the answer's log line tells.
    heatmap_query: HeatmapQuery | None = None

    def get_exception_handler(self) -> Any:
        # This view's errors only: a reusable app leaves EXCEPTION_HANDLER to the host.
        return exception_handler

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Measured around everything, so a refusal (401, 429, 503) is told as an answer too.
        with measuring() as measurement:
            response = super().dispatch(request, *args, **kwargs)
        if request.method in ("GET", "HEAD"):
            report_answer(response, measurement, self.heatmap_query)
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # 405 is about the resource, not the caller: answer it before authenticating.
        if request.method is None or request.method.lower() not in self.http_method_names:
            self.http_method_not_allowed(request, *args, **kwargs)
        super().initial(request, *args, **kwargs)

    def check_throttles(self, request: Request) -> None:
        # The first refusal answers. DRF asks every throttle, so a user over their own
        # rate would still spend their agency's allowance, and so their colleagues'.
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                raise exceptions.Throttled(throttle.wait())

    def get(self, request: Request) -> HttpResponseBase:
        params = HeatmapQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        self.heatmap_query = params.query
        agency_id = agency_id_of(request)
        # A HeatmapError (no scan slot, a failed read) is answered by exception_handler.
        result = cached_heatmap(agency_id=agency_id, query=params.query)
        body = HeatmapSerializer(result).data
        return conditional_response(
            request,
            Response(body),
            agency_id=agency_id,
            representation=[request.accepted_media_type, body],
        )


class CallHeatmapCsvApi(CallHeatmapApi):
    """``GET``: the same heatmap as a CSV attachment, whatever ``format`` or ``Accept`` say.

    The path names the format, as a DRF format suffix would, so the contract can
    give each answer an operation with one media type. Errors stay JSON: the CSV
    renderer writes any body but a heatmap as JSON.
    """

    renderer_classes = [HeatmapCSVRenderer]

    def get_format_suffix(self, **kwargs: Any) -> str:
        return HeatmapCSVRenderer.format
