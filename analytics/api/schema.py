"""The endpoint's OpenAPI description, for host projects that run drf-spectacular.

The app does not need drf-spectacular: ``AnalyticsConfig.ready()`` imports this
module only when it is installed. Importing it registers the extensions below,
which drf-spectacular applies when it generates a schema:

- ``CallHeatmapApiView`` documents ``CallHeatmapApi`` (parameters, bodies,
  every error) through its own ``AutoSchema``, whatever the host's
  ``DEFAULT_SCHEMA_CLASS``;
- ``SupabaseJWTScheme`` describes ``SupabaseJWTAuthentication`` as an HTTP
  Bearer scheme;
- the answer's schemas are drf-spectacular's reading of the serializers' fields
  (ranges, choices, nullability, help); the serializer extensions add only what a
  field cannot carry: ``metric_value``'s type (a count or a rate) and examples.

The descriptions are built from the code they describe (the serializers, whose
fields read the vocabulary's parameters; the error codes of
``analytics.exceptions``), so the schema follows the code. What is written here by
hand is what drf-spectacular cannot see: the error responses and headers.
``openapi.yaml`` at the top of the repository is the demo project's copy, checked by
the tests.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
    OpenApiViewExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import Direction, OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import (
    APIException,
    MethodNotAllowed,
    NotAcceptable,
    NotAuthenticated,
    Throttled,
)
from rest_framework.views import APIView

from analytics.api.renderers import CSV_COLUMNS, FormatParamNegotiation, HeatmapCSVRenderer
from analytics.api.serializers import HeatmapQuerySerializer, HeatmapSerializer
from analytics.api.views import CallHeatmapCsvApi
from analytics.exceptions import (
    MESSAGES,
    Forbidden,
    PreconditionFailed,
    ServerError,
    Unauthenticated,
    Unavailable,
    codes_answered_with,
)
from analytics.heatmap.ranking import BEST_TIMES_LIMIT

Schema = dict[str, Any]

#: The path of the CSV operation, as the demo (and the README) mounts the app under ``api/``.
CSV_PATH_HINT = "`/api/dashboard-heatmap.csv`"

FORMAT_HELP = (
    "`json`, the default. This path also still answers CSV to `?format=csv` (or "
    f"`Accept: text/csv`), for links made before {CSV_PATH_HINT}; that answer is the CSV "
    "operation's (`dashboard_heatmap_csv`), so typed clients call that path instead. "
    "The parameter wins over `Accept`. Errors are JSON either way."
)


def _object(properties: Schema, *, required: list[str]) -> Schema:
    return {"type": "object", "properties": properties, "required": required}


def _detail(description: str) -> Schema:
    return {"type": "string", "description": description}


def _code(codes: list[str]) -> Schema:
    return {"type": "string", "enum": codes}


def _coded(detail: Schema, error: type[APIException]) -> Schema:
    """The body ``analytics.exceptions.exception_handler`` gives one of DRF's errors."""
    return _object(
        {"detail": detail, "code": _code([error.default_code])}, required=["detail", "code"]
    )


NOT_AUTHENTICATED = str(NotAuthenticated.default_code)
AUTHENTICATION_CODES = sorted({NOT_AUTHENTICATED, *codes_answered_with(Unauthenticated)})
PERMISSION_CODES = codes_answered_with(Forbidden)
DATABASE_CODES = codes_answered_with(ServerError)
UNAVAILABLE_CODES = codes_answered_with(Unavailable)


def _example(name: str, value: Any, summary: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, summary=summary, response_only=True)


def _drf_error(
    error: type[APIException],
    *,
    detail: str,
    description: str,
    example: str,
    example_detail: str | None = None,
) -> OpenApiResponse:
    """One of DRF's errors as :func:`_coded` describes it, with one example: its code and
    ``example_detail``, or the error's default detail."""
    said = str(error.default_detail) if example_detail is None else example_detail
    return OpenApiResponse(
        _coded(_detail(detail), error),
        description=description,
        examples=[_example(example, {"detail": said, "code": error.default_code})],
    )


JSON_200 = OpenApiResponse(HeatmapSerializer, description="The heatmap.")

CSV_200 = OpenApiResponse(
    {
        "type": "string",
        "description": (
            f"One header row (`{','.join(CSV_COLUMNS)}`), then one row per `heatmap` "
            "entry of the JSON answer; a rate without calls is empty."
        ),
    },
    description="The heatmap entries as a CSV attachment.",
    examples=[
        _example(
            "csv",
            f"{','.join(CSV_COLUMNS)}\r\n"
            "2,Tuesday,10,100,61,40,0.61,0.4\r\n"
            "2,Tuesday,11,0,0,0,,\r\n",
            "Two slots, the second without calls (dense)",
        )
    ],
)


def _bad_query(*, with_format: bool) -> OpenApiResponse:
    examples = [
        _example("period", {"period": ['"5d" is not a valid choice.']}),
        _example("tz", {"tz": ["Unknown time zone; use an IANA name such as America/New_York."]}),
        _example("clock", {"clock": ['"LEAD" is not a valid choice.']}),
    ]
    if with_format:
        examples.append(_example("format", {"format": ['"xml" is not a valid choice.']}))
    return OpenApiResponse(
        {
            "type": "object",
            "description": "Each bad parameter, with its messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        description=(
            "A bad query parameter (including `format`); every bad one is named."
            if with_format
            else "A bad query parameter; every bad one is named."
        ),
        examples=examples,
    )


#: What both operations answer besides their 200 and 400, by status.
ERRORS: dict[Any, OpenApiResponse] = {
    (401, "application/json"): OpenApiResponse(
        _object(
            {
                "detail": _detail("What is wrong; never contains the token."),
                "code": {
                    **_code(AUTHENTICATION_CODES),
                    "description": f"`{NOT_AUTHENTICATED}` when there is no Bearer token at all.",
                },
            },
            required=["detail", "code"],
        ),
        description=(
            "No Bearer token, or one that does not verify. Carries "
            '`WWW-Authenticate: Bearer realm="api"`.'
        ),
        examples=[
            _example(
                "missing",
                {"detail": str(NotAuthenticated.default_detail), "code": NOT_AUTHENTICATED},
            ),
            _example(
                "expired", {"detail": "The access token has expired.", "code": "token_expired"}
            ),
        ],
    ),
    (403, "application/json"): OpenApiResponse(
        _object(
            {"detail": _detail("What is wrong."), "code": _code(PERMISSION_CODES)},
            required=["detail", "code"],
        ),
        description=(
            "The token is valid, but its user has no `users` row or no agency, or it is "
            "from an anonymous sign-in, which the server does not serve."
        ),
        examples=[
            _example(code, {"detail": MESSAGES[code], "code": code}) for code in PERMISSION_CODES
        ],
    ),
    (405, "application/json"): _drf_error(
        MethodNotAllowed,
        detail="Names the method.",
        description="Any method but GET, HEAD and OPTIONS; carries `Allow`. Before authentication.",
        example="post",
        example_detail='Method "POST" not allowed.',
    ),
    (429, "application/json"): _drf_error(
        Throttled,
        detail="Says how many seconds to wait.",
        description=(
            "This user asked more often than the rate allows (120 a minute unless the "
            "server says otherwise), or the users of their agency together did (600 a "
            "minute). Carries `Retry-After`, in seconds."
        ),
        example="throttled",
        example_detail="Request was throttled. Expected available in 12 seconds.",
    ),
    (500, "application/json"): OpenApiResponse(
        _object(
            {
                "detail": {"type": "string", "enum": [MESSAGES[code] for code in DATABASE_CODES]},
                "code": _code(DATABASE_CODES),
            },
            required=["detail", "code"],
        ),
        description="The database could not be read; the error is logged, never shown.",
        examples=[
            _example(code.split("_")[0], {"detail": MESSAGES[code], "code": code})
            for code in DATABASE_CODES
        ],
    ),
    (412, "application/json"): _drf_error(
        PreconditionFailed,
        detail="Names the failed precondition.",
        description="`If-Match` names no ETag of the current answer.",
        example="if-match",
    ),
    (503, "application/json"): OpenApiResponse(
        _object(
            {
                "detail": _detail("Try again soon."),
                "code": _code(UNAVAILABLE_CODES),
            },
            required=["detail", "code"],
        ),
        description=(
            "The project's signing keys (JWKS) cannot be read, which the app recovers from "
            "by itself; or the agency already has as many heatmaps being counted as it may "
            "(`scans_busy`, with `Retry-After`)."
        ),
        examples=[
            _example(code.split("_")[0], {"detail": MESSAGES[code], "code": code})
            for code in UNAVAILABLE_CODES
        ],
    ),
}

NOT_ACCEPTABLE = _drf_error(
    NotAcceptable,
    detail="What was refused.",
    description="`Accept` names neither JSON nor CSV (nor `*/*`).",
    example="xml",
)

#: The JSON operation's answers: one media type each, so a typed client reads the 200 as JSON.
JSON_RESPONSES: dict[Any, OpenApiResponse] = dict(
    sorted(
        {
            (200, "application/json"): JSON_200,
            (400, "application/json"): _bad_query(with_format=True),
            (406, "application/json"): NOT_ACCEPTABLE,
            **ERRORS,
        }.items()
    )
)
#: The CSV operation's: its path picks CSV whatever ``Accept`` says, so it has no 406.
CSV_RESPONSES: dict[Any, OpenApiResponse] = {
    (200, HeatmapCSVRenderer.media_type): CSV_200,
    (400, "application/json"): _bad_query(with_format=False),
    **ERRORS,
}

ERROR_HEADERS = [
    OpenApiParameter(
        "WWW-Authenticate",
        str,
        OpenApiParameter.HEADER,
        response=[401],
        required=True,
        description='`Bearer realm="api"`.',
    ),
    OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        response=[429],
        required=True,
        description="Seconds until this user (or agency) may ask again.",
    ),
    OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        response=[503],
        description="With `scans_busy`: seconds after which to ask again.",
    ),
    OpenApiParameter(
        "Allow",
        str,
        OpenApiParameter.HEADER,
        response=[405],
        required=True,
        description="`GET, HEAD, OPTIONS`.",
    ),
]


CONTENT_DISPOSITION = OpenApiParameter(
    "Content-Disposition",
    str,
    OpenApiParameter.HEADER,
    response=[200],
    required=True,
    description=(
        '`attachment; filename="call-heatmap-<start_date>-to-<end_date>-<metric>.csv"`, and '
        "`...-<metric>-lead.csv` with `clock=lead`."
    ),
)


class CallHeatmapApiSchema(AutoSchema):
    """``GET /dashboard-heatmap`` as the SPA sees it: the JSON answer."""

    def get_operation_id(self) -> str:
        return "dashboard_heatmap"

    def get_tags(self) -> list[str]:
        return ["heatmap"]

    def get_summary(self) -> str:
        return "When should the agency call?"

    def get_description(self) -> str:  # type: ignore[override]  # as AutoSchema's own
        return (
            "Counts the caller's agency's ended calls by day of week (0 is Sunday) and "
            f"hour, in `tz`, over the window, and names up to {BEST_TIMES_LIMIT} best times "
            "for `metric`. With `clock=lead` the day and hour are each lead's local time, "
            "`unplaced_calls` counts the calls that could not be placed, and `best_times` "
            "ranks only hours inside the server's calling hours (8:00 to 21:00 lead-local "
            "unless it says otherwise; it may then be empty). "
            "The agency comes from the access token's `users` row, never from a parameter. "
            f"The same heatmap as CSV is {CSV_PATH_HINT} (`dashboard_heatmap_csv`); this "
            "path still answers CSV to `?format=csv` or `Accept: text/csv`, as that "
            "operation describes."
        )

    def get_override_parameters(self) -> list[Any]:
        return [
            # Its fields carry each parameter's help, bounds and default.
            HeatmapQuerySerializer,
            OpenApiParameter(
                FormatParamNegotiation.format_param,
                str,
                OpenApiParameter.QUERY,
                enum=["json"],
                description=FORMAT_HELP,
            ),
            *ERROR_HEADERS,
        ]

    # A status (and media type) to answer map, as ``@extend_schema(responses=...)`` passes it.
    def get_response_serializers(self) -> dict[Any, OpenApiResponse]:  # type: ignore[override]
        return JSON_RESPONSES


class CallHeatmapCsvApiSchema(CallHeatmapApiSchema):
    """``GET /dashboard-heatmap.csv``: the same query, the entries as a CSV file."""

    def get_operation_id(self) -> str:
        return "dashboard_heatmap_csv"

    def get_summary(self) -> str:
        return "The heatmap as a CSV file"

    def get_description(self) -> str:  # type: ignore[override]  # as AutoSchema's own
        return (
            "The `heatmap` entries of `dashboard_heatmap`, for the same parameters, as a "
            "CSV attachment for a spreadsheet: one row per slot, the day's English name "
            "beside its number. The path names the format, so `format` and `Accept` "
            "do not change it. `unplaced_calls` and `outside_calling_hours` are in the JSON "
            "only. Errors are JSON, as for `dashboard_heatmap`."
        )

    def get_override_parameters(self) -> list[Any]:
        return [HeatmapQuerySerializer, CONTENT_DISPOSITION, *ERROR_HEADERS]

    def get_response_serializers(self) -> dict[Any, OpenApiResponse]:  # type: ignore[override]
        return CSV_RESPONSES


class CallHeatmapApiView(OpenApiViewExtension):
    target_class = "analytics.api.views.CallHeatmapApi"
    match_subclasses = True  # a host's subclass (say, with throttles) keeps the description

    def view_replacement(self) -> type[APIView]:
        view: type[APIView] = self.target
        description = (
            CallHeatmapCsvApiSchema if issubclass(view, CallHeatmapCsvApi) else CallHeatmapApiSchema
        )

        class Documented(view):  # type: ignore[valid-type,misc]
            schema = description()

        return Documented


class SupabaseJWTScheme(OpenApiAuthenticationExtension):
    target_class = "analytics.auth.authentication.SupabaseJWTAuthentication"
    match_subclasses = True  # SupabaseClaimsAuthentication too
    name = "SupabaseAccessToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> Schema:
        return {
            **build_bearer_security_scheme_object("Authorization", "Bearer", "JWT"),
            "description": (
                "The signed-in user's Supabase access token (`session.access_token` in "
                "supabase-js), verified locally: ES256/RS256 through the project's JWKS, "
                "or HS256 with the legacy JWT secret."
            ),
        }


class MetricValueScheme(OpenApiSerializerFieldExtension):
    """A count or a rate: a JSON number either way."""

    target_class = "analytics.api.serializers.MetricValueField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Direction) -> Schema:
        return {"type": "number"}


class HeatmapExamples(OpenApiSerializerExtension):
    """The serializer as drf-spectacular maps it from its fields, plus the examples a field
    cannot carry."""

    target_class = "analytics.api.serializers.HeatmapSerializer"
    examples: ClassVar[dict[str, Any]] = {
        "timezone": "America/New_York",
        "clock": "lead",
        "unplaced_calls": 12,
        "outside_calling_hours": 3,
    }

    def map_serializer(self, auto_schema: AutoSchema, direction: Direction) -> Schema:
        schema: Schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        for name, example in self.examples.items():
            schema["properties"][name]["example"] = example
        return schema


class BestTimeExamples(HeatmapExamples):
    target_class = "analytics.api.serializers.BestTimeSerializer"
    examples: ClassVar[dict[str, Any]] = {"label": "Tuesday 10:00"}
