"""``analytics.api.views``: the endpoint's answers over HTTP.

Its shape, what its parameters reach, the methods it answers, a failed read, a host
project's settings, ``OPTIONS``, CORS for the SPA, tenant isolation, and ``clock=lead``
(the lead's clock, against an oracle). The 400s are in ``test_serializers.py``, CSV in
``test_renderers.py``, who may call in ``tests/auth/test_authentication.py``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import caches
from django.test import Client, override_settings
from django.urls import include, path, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openapi_core import OpenAPI
from rest_framework.test import APIClient
from time_machine import TimeMachineFixture

from analytics.api.renderers import CSV_COLUMNS
from analytics.api.serializers import HeatmapSerializer
from analytics.api.views import CallHeatmapApi
from analytics.heatmap.selectors import heatmap
from analytics.heatmap.vocabulary import DAY_NAMES, Metric
from analytics.models import Call, User
from tests.helpers import (
    BEARER_CHALLENGE,
    BOOKED,
    CAMPAIGNS,
    HEATMAP_CSV_URL,
    HEATMAP_URL,
    KOLKATA,
    MakeCall,
    assert_calls_query_failed,
    documented_cors_block,
    insert_calls,
    make_calls,
    mint_token,
    oracle_lead_heatmap,
    random_call,
    run_demo,
    table_away,
    utc,
    validate,
)

pytestmark = pytest.mark.django_db


FIRST_RELEASE_CELL_KEYS = {"day", "hour", "total_calls", "connected_calls", "meetings_booked"}


def local_today(name: str) -> date:
    return timezone.now().astimezone(ZoneInfo(name)).date()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


# --- The answer --------------------------------------------------------------------------


def test_answers_the_documented_shape(
    auth_client: APIClient, make_call: MakeCall, today: date
) -> None:
    make_call(created_at=at(today, 9, 5), joined_at=at(today, 9, 6), end_reason=None)
    make_call(
        created_at=at(today, 9, 40),
        joined_at=at(today, 9, 41),
        analysis={"sdr": {"meeting_booked": True}},
    )
    make_call(created_at=at(today, 14, 0))

    response = auth_client.get(HEATMAP_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    day = today.isoweekday() % 7
    label = f"{today.strftime('%A')} 09:00"
    assert response.json() == {
        "period": {
            "start_date": (today - timedelta(days=29)).isoformat(),
            "end_date": today.isoformat(),
        },
        "metric": "calls",
        "timezone": "UTC",
        "clock": "tz",
        "unplaced_calls": None,
        "outside_calling_hours": None,
        "heatmap": [
            {
                "day": day,
                "hour": 9,
                "total_calls": 2,
                "connected_calls": 2,
                "meetings_booked": 1,
                "connect_rate": 1.0,
                "meeting_rate": 0.5,
            },
            {
                "day": day,
                "hour": 14,
                "total_calls": 1,
                "connected_calls": 0,
                "meetings_booked": 0,
                "connect_rate": 0.0,
                "meeting_rate": 0.0,
            },
        ],
        "best_times": [
            {"day": day, "hour": 9, "metric_value": 2, "label": label},
            {"day": day, "hour": 14, "metric_value": 1, "label": f"{today.strftime('%A')} 14:00"},
        ],
    }


@pytest.mark.parametrize(("period", "days"), [("7d", 7), ("30d", 30), ("90d", 90)])
def test_period_sets_the_window(
    auth_client: APIClient, today: date, period: str, days: int
) -> None:
    body = auth_client.get(HEATMAP_URL, {"period": period}).json()
    assert body["period"] == {
        "start_date": (today - timedelta(days=days - 1)).isoformat(),
        "end_date": today.isoformat(),
    }


def test_metric_and_filters_reach_the_query(
    auth_client: APIClient, make_call: MakeCall, today: date
) -> None:
    campaign = uuid.uuid4()
    make_call(created_at=at(today, 8), campaign_id=campaign, joined_at=at(today, 8))
    make_call(created_at=at(today, 11))
    make_call(created_at=at(today, 11))
    body = auth_client.get(
        HEATMAP_URL, {"metric": "connected", "campaign_id": str(campaign)}
    ).json()
    assert body["metric"] == "connected"
    assert [(c["hour"], c["total_calls"]) for c in body["heatmap"]] == [(8, 1)]
    assert [(b["hour"], b["metric_value"]) for b in body["best_times"]] == [(8, 1)]


def test_another_agencys_campaign_id_shows_nothing(
    auth_client: APIClient, make_call: MakeCall, other_agency_id: uuid.UUID, today: date
) -> None:
    theirs = uuid.uuid4()
    make_call(created_at=at(today, 10), agency_id=other_agency_id, campaign_id=theirs)
    body = auth_client.get(HEATMAP_URL, {"campaign_id": str(theirs)}).json()
    assert body["heatmap"] == []
    assert body["best_times"] == []


def test_calls_query_failure_is_500_json_logged_and_recovers(
    auth_client: APIClient, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    make_call()
    with table_away("calls"), caplog.at_level(logging.ERROR, logger="analytics"):
        response = auth_client.get(HEATMAP_URL)
    assert_calls_query_failed(response)
    said = response.content.decode()
    assert "calls" not in said.replace("Failed to query calls table", "").replace(
        "calls_query_failed", ""
    )
    [record] = [r for r in caplog.records if r.name == "analytics.heatmap.selectors"]
    assert record.exc_info is not None
    recovered = auth_client.get(HEATMAP_URL)
    assert recovered.status_code == 200
    assert recovered.json()["heatmap"][0]["total_calls"] == 1


# --- Tenant isolation --------------------------------------------------------------------

#: Campaigns and clients both agencies use (ids that collide across agencies), and B's own.
SHARED_CAMPAIGNS = [uuid.UUID(int=1), uuid.UUID(int=2)]
B_CAMPAIGNS = [uuid.UUID(int=3)]
SHARED_CLIENTS = [uuid.UUID(int=11), uuid.UUID(int=12)]
B_CLIENTS = [uuid.UUID(int=13)]

ANALYSES: list[Any] = [
    None,
    {},
    {"sdr": {"meeting_booked": True}},
    {"sdr": {"meeting_booked": False}},
    {"sdr": {"meeting_booked": "true"}},
]

generated_calls = st.lists(
    st.fixed_dictionaries(
        {
            # Inside the longest window and just outside it, at any minute of the day.
            "days_ago": st.integers(0, 92),
            "minute": st.integers(0, 24 * 60 - 1),
            "status": st.sampled_from(["ended", "ended", "failed", "in_progress"]),
            "joined": st.booleans(),
            "end_reason": st.sampled_from([None, "completed", "unjoined", "voicemail"]),
            "analysis": st.sampled_from(ANALYSES),
        }
    ),
    max_size=12,
)

queries = st.fixed_dictionaries(
    {
        "period": st.sampled_from(["7d", "30d", "90d"]),
        "metric": st.sampled_from(
            ["calls", "connected", "meetings_booked", "connect_rate", "meeting_rate"]
        ),
        "tz": st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"]),
        "min_calls": st.sampled_from(["1", "2", "20"]),
        "dense": st.sampled_from(["false", "true"]),
    },
    optional={
        "campaign_id": st.sampled_from(SHARED_CAMPAIGNS + B_CAMPAIGNS).map(str),
        "client_id": st.sampled_from(SHARED_CLIENTS + B_CLIENTS).map(str),
    },
)


def insert(agency_id: uuid.UUID, specs: list[dict[str, Any]], draw_ids: st.DataObject) -> None:
    midnight = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
    campaigns = SHARED_CAMPAIGNS + B_CAMPAIGNS
    clients = SHARED_CLIENTS + B_CLIENTS
    for spec in specs:
        created_at = midnight - timedelta(days=spec["days_ago"], minutes=-spec["minute"])
        # One by one: Django's bulk insert on PostgreSQL (UNNEST of text[]) cannot fill enums.
        Call.objects.create(
            id=uuid.uuid4(),
            agency_id=agency_id,
            campaign_id=draw_ids.draw(st.sampled_from([None, *campaigns])),
            client_id=draw_ids.draw(st.sampled_from([None, *clients])),
            status=spec["status"],
            created_at=created_at,
            joined_at=created_at + timedelta(seconds=9) if spec["joined"] else None,
            end_reason=spec["end_reason"],
            analysis=spec["analysis"],
        )


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(a_calls=generated_calls, b_calls=generated_calls, query=queries, data=st.data())
def test_an_agencys_answer_does_not_depend_on_another_agencys_calls(
    settings: Any,
    auth_client: APIClient,
    agency_id: uuid.UUID,
    other_agency_id: uuid.UUID,
    a_calls: list[dict[str, Any]],
    b_calls: list[dict[str, Any]],
    query: dict[str, str],
    data: st.DataObject,
) -> None:
    """Whatever A asks for (B's campaign and client ids included), B's calls change nothing.

    Where the agency comes from: ``tests/auth/test_authentication.py``.
    """
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 0  # every answer from the database
    # The test's transaction spans every example: each example cleans up after itself.
    try:
        insert(agency_id, a_calls, data)
        alone = auth_client.get(HEATMAP_URL, query)
        insert(other_agency_id, b_calls, data)
        beside_b = auth_client.get(HEATMAP_URL, query)
    finally:
        Call.objects.filter(agency_id__in=[agency_id, other_agency_id]).delete()
    assert alone.status_code == 200, alone.content
    assert beside_b.content == alone.content


# --- Paths and methods ---------------------------------------------------------------------


def test_trailing_slash_answers_without_redirect(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    plain = auth_client.get(HEATMAP_URL)
    slashed = auth_client.get(HEATMAP_URL + "/")
    assert plain.status_code == slashed.status_code == 200
    assert plain.json() == slashed.json()


def test_the_csv_path_is_named() -> None:
    assert reverse("analytics:dashboard-heatmap-csv") == HEATMAP_CSV_URL


def test_head_is_answered_like_get(auth_client: APIClient) -> None:
    assert auth_client.head(HEATMAP_URL).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("authenticated", [True, False])
def test_other_methods_are_405_with_allow(
    api_client: APIClient, token: str, method: str, authenticated: bool
) -> None:
    if authenticated:
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = getattr(api_client, method)(HEATMAP_URL, {"period": "7d"}, format="json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {
        "detail": f'Method "{method.upper()}" not allowed.',
        "code": "method_not_allowed",
    }


@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_options_names_the_methods_and_no_internal_text(auth_client: APIClient, url: str) -> None:
    """Found by attacking the demo (#13): ``OPTIONS`` once sent the view's docstring."""
    response = auth_client.options(url)
    assert response.status_code == 200
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    body = response.json()
    assert body["methods"] == ["GET", "HEAD", "OPTIONS"]
    assert set(body) == {"methods", "renders"}
    text = response.content.decode()
    docstring_lines = [line.strip() for line in (CallHeatmapApi.__doc__ or "").splitlines()]
    assert not [line for line in docstring_lines if len(line) > 10 and line in text]
    assert "CallHeatmap" not in text
    assert "Call Heatmap" not in text


def test_options_without_a_token_is_still_a_401(api_client: APIClient) -> None:
    response = api_client.options(HEATMAP_URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


# --- A host project's settings change nothing ---------------------------------------------


def test_host_time_zone_does_not_change_the_answer(
    auth_client: APIClient, make_call: MakeCall, today: date
) -> None:
    make_call(created_at=at(today, 0, 10))
    make_call(created_at=at(today, 23, 50))
    utc_body = auth_client.get(HEATMAP_URL).json()
    with override_settings(TIME_ZONE="Asia/Kathmandu"):
        assert auth_client.get(HEATMAP_URL).json() == utc_body
    assert [c["hour"] for c in utc_body["heatmap"]] == [0, 23]


urlpatterns = [path("v2/insights/", include("analytics.urls"))]


@override_settings(
    ROOT_URLCONF=__name__,
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.BasicAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.BrowsableAPIRenderer"],
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"anon": "1/day"},
    },
)
def test_host_project_defaults_and_prefix_do_not_change_the_view(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    url = reverse("analytics:dashboard-heatmap")
    assert url == "/v2/insights/dashboard-heatmap"
    response = auth_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["heatmap"][0]["total_calls"] == 1
    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == BEARER_CHALLENGE


# --- CORS: the SPA on its own origin -------------------------------------------------------
#
# The suite's settings enable django-cors-headers as the demo project does, for
# https://app.example.com. The last test runs the demo project itself, with its origins
# taken from CORS_ALLOWED_ORIGINS in the environment.

SPA = "https://app.example.com"
STRANGER = "https://evil.example.net"


def preflight(client: Client, origin: str, url: str = HEATMAP_URL, method: str = "GET") -> Any:
    return client.options(
        url,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )


def cors_headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_URL + "/"])
def test_a_preflight_from_the_spa_asking_for_authorization_succeeds(
    client: Client, url: str
) -> None:
    response = preflight(client, SPA, url)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SPA
    assert "authorization" in response["Access-Control-Allow-Headers"].split(", ")
    assert "GET" in response["Access-Control-Allow-Methods"].split(", ")
    assert "Access-Control-Allow-Credentials" not in response  # a Bearer token, not cookies


def test_a_preflight_for_another_method_allows_only_reads(client: Client) -> None:
    response = preflight(client, SPA, method="DELETE")
    assert response["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"


def test_a_preflight_from_another_origin_gets_no_cors_headers(client: Client) -> None:
    response = preflight(client, STRANGER)
    assert cors_headers(response) == {}


def test_the_spa_reads_the_answer_and_the_csv_file_name(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    response = auth_client.get(HEATMAP_URL, HTTP_ORIGIN=SPA)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SPA
    download = auth_client.get(HEATMAP_URL, {"format": "csv"}, HTTP_ORIGIN=SPA)
    assert download["Access-Control-Allow-Origin"] == SPA
    exposed = download["Access-Control-Expose-Headers"]
    assert exposed == "ETag, Content-Disposition, Retry-After"


def test_a_preflight_allows_the_validators_and_is_kept_for_a_day(client: Client) -> None:
    response = client.options(
        HEATMAP_URL,
        HTTP_ORIGIN=SPA,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,if-none-match,if-match",
    )
    assert response.status_code == 200
    allowed = response["Access-Control-Allow-Headers"].split(", ")
    assert {"authorization", "if-none-match", "if-match"} <= set(allowed)
    assert response["Access-Control-Max-Age"] == "86400"


def test_the_spa_revalidates_across_origins(auth_client: APIClient, make_call: MakeCall) -> None:
    """The ETag is exposed; sent back, a 304 the browser hands the page, and a stale
    If-Match a 412 it can read."""
    make_call()
    first = auth_client.get(HEATMAP_URL, HTTP_ORIGIN=SPA)
    assert "ETag" in first["Access-Control-Expose-Headers"].split(", ")
    again = auth_client.get(HEATMAP_URL, HTTP_ORIGIN=SPA, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["Access-Control-Allow-Origin"] == SPA
    stale = auth_client.get(HEATMAP_URL, HTTP_ORIGIN=SPA, HTTP_IF_MATCH='"stale"')
    assert stale.status_code == 412
    assert stale["Access-Control-Allow-Origin"] == SPA
    assert stale.json()["code"] == "precondition_failed"


def test_another_origin_gets_the_answer_without_cors_headers(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    response = auth_client.get(HEATMAP_URL, HTTP_ORIGIN=STRANGER)
    assert response.status_code == 200  # the browser, not the server, withholds it
    assert cors_headers(response) == {}


def test_errors_carry_cors_headers_so_the_spa_can_read_them(api_client: APIClient) -> None:
    response = api_client.get(HEATMAP_URL, HTTP_ORIGIN=SPA)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == SPA


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_real_requests_with_other_methods_are_still_405(
    auth_client: APIClient, method: str
) -> None:
    response = getattr(auth_client, method)(HEATMAP_URL, HTTP_ORIGIN=SPA)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {
        "detail": f'Method "{method.upper()}" not allowed.',
        "code": "method_not_allowed",
    }
    assert response["Access-Control-Allow-Origin"] == SPA


def test_the_admin_never_answers_cross_origin(client: Client) -> None:
    response = preflight(client, SPA, "/admin/login/")
    assert cors_headers(response) == {}


DEMO_PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="localhost")
def preflight(origin):
    response = client.options(
        "/api/dashboard-heatmap",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,if-none-match",
    )
    return [response.status_code, response.headers.get("Access-Control-Allow-Origin")]
post = client.post("/api/dashboard-heatmap", HTTP_ORIGIN="http://localhost:5173")
print(json.dumps({
    "spa": preflight("https://app.example.com"),
    "dev": preflight("http://localhost:5173"),
    "stranger": preflight("https://evil.example.net"),
    "post": [post.status_code, post.headers.get("Access-Control-Allow-Origin")],
}))
"""

#: The demo's CORS settings, as the project reads them.
DEMO_CORS_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
names = [name for name in dir(settings) if name.startswith("CORS_")]
print(json.dumps({name: getattr(settings, name) for name in names}))
"""


def test_the_demo_uses_the_documented_cors_block_as_it_is() -> None:
    documented = documented_cors_block()
    origins = ",".join(documented["CORS_ALLOWED_ORIGINS"])
    demo = json.loads(run_demo("-c", DEMO_CORS_SETTINGS, CORS_ALLOWED_ORIGINS=origins))
    assert demo == json.loads(json.dumps(documented))
    assert "ETag" in demo["CORS_EXPOSE_HEADERS"]
    assert {"if-none-match", "if-match"} <= set(demo["CORS_ALLOW_HEADERS"])


@pytest.mark.parametrize(
    ("origins", "allowed"),
    [
        ("https://app.example.com, http://localhost:5173", {"spa", "dev"}),
        ("https://app.example.com", {"spa"}),
        ("", set()),
    ],
)
def test_the_demo_takes_its_cors_origins_from_the_environment(
    origins: str, allowed: set[str]
) -> None:
    probe = json.loads(run_demo("-c", DEMO_PROBE, CORS_ALLOWED_ORIGINS=origins))
    origin_of = {
        "spa": "https://app.example.com",
        "dev": "http://localhost:5173",
        "stranger": "https://evil.example.net",
    }
    for name in ("spa", "dev", "stranger"):
        status, allow_origin = probe[name]
        assert status == 200
        assert allow_origin == (origin_of[name] if name in allowed else None), name
    assert probe["post"][0] == 405
    assert probe["post"][1] == ("http://localhost:5173" if "dev" in allowed else None)


# --- over HTTP: the endpoint answers what the selector answers --------------------------


def test_tz_over_http_answers_in_local_days_and_hours(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    today = local_today(KOLKATA)
    make_call(
        created_at=datetime(today.year, today.month, today.day, 9, 15, tzinfo=ZoneInfo(KOLKATA))
    )
    response = auth_client.get(HEATMAP_URL, {"tz": KOLKATA, "period": "7d"})
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == KOLKATA
    assert body["period"]["end_date"] in {today.isoformat(), local_today(KOLKATA).isoformat()}
    day = today.isoweekday() % 7
    assert body["heatmap"] == [
        {
            "day": day,
            "hour": 9,
            "total_calls": 1,
            "connected_calls": 0,
            "meetings_booked": 0,
            "connect_rate": 0.0,
            "meeting_rate": 0.0,
        }
    ]
    label = f"{today.strftime('%A')} 09:00"
    assert body["best_times"] == [{"day": day, "hour": 9, "metric_value": 1, "label": label}]


def test_explicit_utc_answers_with_the_timezone(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    body = auth_client.get(HEATMAP_URL, {"tz": "UTC"}).json()
    assert body["timezone"] == "UTC"
    assert body["heatmap"][0]["hour"] == 12


def test_rate_metric_over_http(auth_client: APIClient, make_call: MakeCall, today: date) -> None:
    make_calls(make_call, at(today, 10), total=3, booked=2)
    response = auth_client.get(HEATMAP_URL, {"metric": "connect_rate", "min_calls": "3"})
    assert response.status_code == 200
    body = response.json()
    day = today.isoweekday() % 7
    assert body["metric"] == "connect_rate"
    assert body["timezone"] == "UTC"
    assert body["heatmap"] == [
        {
            "day": day,
            "hour": 10,
            "total_calls": 3,
            "connected_calls": 2,
            "meetings_booked": 2,
            "connect_rate": 0.6667,
            "meeting_rate": 0.6667,
        }
    ]
    assert body["best_times"] == [
        {
            "day": day,
            "hour": 10,
            "metric_value": 0.6667,
            "label": f"{today.strftime('%A')} 10:00",
            "total_calls": 3,
        }
    ]
    assert '"metric_value":0.6667' in response.content.decode()  # a number, not a string


@pytest.mark.parametrize("params", [{}, {"tz": "UTC"}, {"metric": "meeting_rate"}])
def test_every_answer_carries_the_timezone_and_cell_rates(
    auth_client: APIClient, make_call: MakeCall, params: dict[str, str]
) -> None:
    make_call()
    body = auth_client.get(HEATMAP_URL, params).json()
    assert body["timezone"] == "UTC"
    assert set(body["heatmap"][0]) == FIRST_RELEASE_CELL_KEYS | {"connect_rate", "meeting_rate"}


def test_dense_grid_over_http_is_zero_filled_with_null_rates(
    auth_client: APIClient, make_call: MakeCall, today: date
) -> None:
    make_call(created_at=at(today, 12), joined_at=at(today, 12))
    grid = auth_client.get(HEATMAP_URL, {"dense": "true"}).json()["heatmap"]
    assert [(c["day"], c["hour"]) for c in grid] == [(d, h) for d in range(7) for h in range(24)]
    [called] = [c for c in grid if c["total_calls"]]
    assert (called["day"], called["hour"], called["connect_rate"]) == (
        today.isoweekday() % 7,
        12,
        1.0,
    )
    assert grid[0] == {  # Sunday 00:00: never called, as the call is at noon
        "day": 0,
        "hour": 0,
        "total_calls": 0,
        "connected_calls": 0,
        "meetings_booked": 0,
        "connect_rate": None,
        "meeting_rate": None,
    }


def test_the_endpoint_answers_what_the_shell_service_answers(
    auth_client: APIClient, make_call: MakeCall, agency_id: uuid.UUID, today: date
) -> None:
    for hour, booked in ((8, 0), (9, 1), (13, 3)):
        make_calls(make_call, at(today, hour), total=4, booked=booked)
    make_calls(make_call, at(today - timedelta(days=1), 23), total=2, booked=2)
    query = {"tz": "Asia/Kolkata", "metric": "meeting_rate", "min_calls": "2", "dense": "true"}
    over_http = auth_client.get(HEATMAP_URL, query)
    in_the_shell = heatmap(
        agency_id=agency_id, tz="Asia/Kolkata", metric="meeting_rate", min_calls=2, dense=True
    )
    assert len(in_the_shell.cells) == 168
    assert len(in_the_shell.best_times) == 3  # the 08:00 UTC slot booked nothing
    assert over_http.json() == json.loads(json.dumps(HeatmapSerializer(in_the_shell).data))


@pytest.mark.usefixtures("on_postgresql")
def test_cet_is_counted_with_daylight_saving_time_like_brussels(
    api_client: APIClient, user: User, make_call: MakeCall
) -> None:
    """PostgreSQL reads ``CET`` as a fixed +01:00; the answer keeps CET's summer time."""
    for created_at in (
        utc(2026, 3, 10, 12, 30),  # Tuesday 13:30 CET
        utc(2026, 3, 29, 0, 30),  # Sunday 01:30 CET, before the clocks go forward
        utc(2026, 3, 29, 1, 30),  # Sunday 03:30 CEST, after
        utc(2026, 4, 14, 12, 30),  # Tuesday 14:30 CEST
    ):
        make_call(created_at=created_at)
    with time_machine.travel(utc(2026, 4, 20, 12), tick=False):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
        cet, brussels = (
            api_client.get(HEATMAP_URL, {"tz": zone, "period": "90d", "dense": "1"}).json()
            for zone in ("CET", "Europe/Brussels")
        )
    assert (cet["timezone"], brussels["timezone"]) == ("CET", "Europe/Brussels")
    assert cet["period"] == brussels["period"]
    assert cet["heatmap"] == brussels["heatmap"]
    called = [(c["day"], c["hour"]) for c in cet["heatmap"] if c["total_calls"]]
    assert called == [(0, 1), (0, 3), (2, 13), (2, 14)]


def test_the_zone_asked_for_is_the_zone_of_the_whole_answer_fresh_or_cached(
    api_client: APIClient, user: User, make_call: MakeCall, settings: Any
) -> None:
    """``tz`` is read once, into the query: the window, the cells and the cached copy all
    follow it, another zone is never served that copy, and a bad name is refused."""
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60  # through the cache too
    caches["default"].clear()
    make_call(created_at=utc(2026, 3, 10, 19, 45))  # Tuesday 19:45 UTC, Wednesday 01:15 there
    with time_machine.travel(utc(2026, 3, 10, 20), tick=False):  # already the 11th there
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
        fresh = api_client.get(HEATMAP_URL, {"tz": KOLKATA, "period": "7d"})
        cached = api_client.get(HEATMAP_URL, {"tz": KOLKATA, "period": "7d"})
        in_utc = api_client.get(HEATMAP_URL, {"period": "7d"})
        refused = api_client.get(HEATMAP_URL, {"tz": "+05:30", "period": "7d"})
    assert fresh.status_code == cached.status_code == in_utc.status_code == 200
    assert cached.content == fresh.content
    body = fresh.json()
    assert body["timezone"] == KOLKATA
    assert (body["period"]["start_date"], body["period"]["end_date"]) == (
        "2026-03-05",
        "2026-03-11",
    )
    assert [(c["day"], c["hour"]) for c in body["heatmap"]] == [(3, 1)]  # Wednesday 01:00
    assert [b["label"] for b in body["best_times"]] == ["Wednesday 01:00"]
    utc_body = in_utc.json()
    assert utc_body["timezone"] == "UTC"
    assert utc_body["period"]["end_date"] == "2026-03-10"
    assert [(c["day"], c["hour"]) for c in utc_body["heatmap"]] == [(2, 19)]  # Tuesday 19:00
    assert refused.status_code == 400
    assert list(refused.json()) == ["tz"]


# --- clock=lead over HTTP -----------------------------------------------------------------
#
# Each call in the lead's local (day, hour), what could not be placed, the calling hours,
# and the clock beside every other parameter (CSV, cache, ETag). The numbers come from an
# oracle that places each call from ``phonenumbers``' own map
# (``tests.helpers.oracle_lead_heatmap``), apart from the product's data and SQL. Runs on
# SQLite, and on PostgreSQL with ``DATABASE_URL``. The 400s for ``clock`` are in
# ``test_serializers.py``, its cache key in ``test_caching.py``, the scan itself in
# ``tests/heatmap/test_lead_scan.py``.

#: The instant every clock=lead test asks at: Monday 7 December 2026, noon UTC.
NOW = utc(2026, 12, 7, 12)
TODAY = NOW.date()
NEW_YORK_NUMBER = "+1 (212) 555-0100"
NEW_YORK = ZoneInfo("America/New_York")
#: Tuesday 1 December 2026, a day of the 30-day window in every zone used here.
TUESDAY = date(2026, 12, 1)

Ask = Callable[..., Any]


@pytest.fixture
def lead_client(time_machine: TimeMachineFixture, user: User) -> APIClient:
    """A signed-in client with the clock stopped at :data:`NOW` (its token minted then)."""
    time_machine.move_to(NOW, tick=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    return client


@pytest.fixture
def ask(lead_client: APIClient) -> Ask:
    """``GET /api/dashboard-heatmap`` with ``params``: the 200's JSON body."""

    def get(**params: Any) -> Any:
        response = lead_client.get(HEATMAP_URL, params)
        assert response.status_code == 200, response.content
        return response.json()

    return get


def lead_local(day: date, hour: int, minute: int = 0, zone: ZoneInfo = NEW_YORK) -> datetime:
    """``day`` at ``hour:minute`` on the lead's wall clock, as the instant ``created_at`` holds."""
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def call_lead(
    make_call: MakeCall, at: datetime, *, total: int, won: int = 0, **fields: Any
) -> None:
    """``total`` calls to the New York lead at ``at``; the first ``won`` connected and booked."""
    for i in range(total):
        make_call(
            created_at=at,
            phone_number=NEW_YORK_NUMBER,
            joined_at=at if i < won else None,
            analysis=BOOKED if i < won else None,
            **fields,
        )


def window(tz: str, days: int) -> tuple[datetime, datetime]:
    """The period's dates in ``tz``, as instants: the window ``clock`` never changes."""
    zone = ZoneInfo(tz)
    start = datetime.combine(TODAY - timedelta(days=days - 1), time(), tzinfo=zone)
    return start, datetime.combine(TODAY + timedelta(days=1), time(), tzinfo=zone)


def cells_of(body: dict[str, Any]) -> dict[tuple[int, int], list[int]]:
    return {
        (cell["day"], cell["hour"]): [
            cell["total_calls"],
            cell["connected_calls"],
            cell["meetings_booked"],
        ]
        for cell in body["heatmap"]
    }


def hours_of(body: dict[str, Any]) -> list[int]:
    return [best["hour"] for best in body["best_times"]]


# --- clock=lead: the viewer's clock, unchanged --------------------------------------------


def test_clock_tz_is_the_default_and_answers_null_counts(ask: Ask, make_call: MakeCall) -> None:
    call_lead(make_call, lead_local(TUESDAY, 22), total=2)
    make_call(created_at=lead_local(TUESDAY, 10), phone_number=None)
    default, explicit = ask(), ask(clock="tz")
    assert default == explicit
    assert (default["clock"], default["unplaced_calls"], default["outside_calling_hours"]) == (
        "tz",
        None,
        None,
    )
    # The day and hour are UTC's, whatever the number: 22:00 in New York is 03:00 UTC.
    assert cells_of(default) == {(3, 3): [2, 0, 0], (2, 15): [1, 0, 0]}


# --- clock=lead: the lead's clock, against the oracle -------------------------------------


@pytest.mark.parametrize(
    ("tz", "period", "campaign"),
    [
        ("UTC", "90d", None),
        ("America/Los_Angeles", "90d", None),
        ("Asia/Kolkata", "30d", None),
        ("UTC", "90d", CAMPAIGNS[1]),
    ],
)
def test_clock_lead_counts_every_call_where_the_oracle_places_it(
    ask: Ask, agency_id: uuid.UUID, tz: str, period: str, campaign: uuid.UUID | None
) -> None:
    """Numbers of every kind, at every kind of instant; ``tz`` and the filters keep the window."""
    rng = random.Random(f"lead-{tz}-{period}-{campaign}")
    calls = [random_call(rng, [agency_id, uuid.uuid4()], TODAY) for _ in range(500)]
    insert_calls(calls)
    params = {"clock": "lead", "tz": tz, "period": period, "metric": "connect_rate"}
    params["min_calls"] = "1"
    if campaign is not None:
        params["campaign_id"] = str(campaign)
    body = ask(**params)

    mine = [c for c in calls if c.agency_id == agency_id]
    if campaign is not None:
        mine = [c for c in mine if c.campaign_id == campaign]
    start, end = window(tz, int(period.removesuffix("d")))
    expected, unplaced = oracle_lead_heatmap(mine, start=start, end=end)
    assert cells_of(body) == expected
    assert body["unplaced_calls"] == unplaced > 0
    outside = sum(counts[0] for (_, hour), counts in expected.items() if not 8 <= hour < 21)
    assert body["outside_calling_hours"] == outside > 0
    assert (body["clock"], body["timezone"]) == ("lead", tz)
    assert body["best_times"]
    assert all(8 <= hour < 21 for hour in hours_of(body))


def test_the_endpoint_answers_what_the_shell_service_answers_on_the_leads_clock(
    ask: Ask, make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    call_lead(make_call, lead_local(TUESDAY, 10), total=3, won=1)
    call_lead(make_call, lead_local(TUESDAY, 22), total=2)
    make_call(created_at=lead_local(TUESDAY, 11), phone_number="+1 907 555 0100")
    over_http = ask(clock="lead", tz="Europe/Paris", dense="1")
    in_the_shell = heatmap(agency_id=agency_id, clock="lead", tz="Europe/Paris", dense=True)
    assert over_http == json.loads(json.dumps(HeatmapSerializer(in_the_shell).data))
    assert (over_http["unplaced_calls"], over_http["outside_calling_hours"]) == (1, 2)
    assert len(over_http["heatmap"]) == 7 * 24
    with pytest.raises(ValueError, match="LEAD"):
        heatmap(agency_id=agency_id, clock="LEAD")


@pytest.mark.parametrize(
    ("local_time", "outside"),
    [("07:59:59.999999", 1), ("08:00:00", 0), ("20:59:59.999999", 0), ("21:00:00", 1)],
)
def test_the_calling_hours_edges_lead_local(
    ask: Ask, make_call: MakeCall, local_time: str, outside: int
) -> None:
    local = datetime.combine(TUESDAY, time.fromisoformat(local_time), tzinfo=NEW_YORK)
    make_call(created_at=local.astimezone(UTC), phone_number=NEW_YORK_NUMBER)
    body = ask(clock="lead")
    assert body["outside_calling_hours"] == outside
    assert [(c["day"], c["hour"]) for c in body["heatmap"]] == [(2, local.hour)]
    assert len(body["best_times"]) == 1 - outside


# --- clock=lead: the calling hours --------------------------------------------------------


@pytest.fixture
def biggest_at_ten_pm(make_call: MakeCall) -> None:
    """The busiest, best-connected, most-booked slot is 22:00 lead-local; 10:00 does less."""
    call_lead(make_call, lead_local(TUESDAY, 22), total=40, won=40)
    call_lead(make_call, lead_local(TUESDAY, 10), total=25, won=5)
    call_lead(make_call, lead_local(TUESDAY, 7), total=30, won=30)


@pytest.mark.usefixtures("biggest_at_ten_pm")
@pytest.mark.parametrize("metric", [metric.value for metric in Metric])
def test_best_times_never_rank_an_hour_outside_the_calling_hours(ask: Ask, metric: str) -> None:
    body = ask(clock="lead", metric=metric, min_calls="20")
    assert hours_of(body) == [10]
    assert body["outside_calling_hours"] == 70
    # The heatmap still shows every placed call, so the agency sees what it did at night.
    assert cells_of(body)[2, 22] == [40, 40, 40]
    assert cells_of(body)[2, 7] == [30, 30, 30]
    # On the viewer's clock the same calls rank as they fall: the hours are no rule there.
    assert ask(clock="tz", metric=metric, min_calls="20", tz="America/New_York")["best_times"][0][
        "hour"
    ] in (22, 7)


@pytest.mark.usefixtures("biggest_at_ten_pm")
@pytest.mark.parametrize("metric", ["calls", "meeting_rate"])
def test_without_calling_hours_every_hour_ranks(ask: Ask, settings: Any, metric: str) -> None:
    settings.ANALYTICS_CALLING_HOURS = None
    body = ask(clock="lead", metric=metric)
    assert body["outside_calling_hours"] is None
    assert body["unplaced_calls"] == 0
    assert hours_of(body) == [22, 7, 10]


@pytest.mark.usefixtures("biggest_at_ten_pm")
def test_narrower_calling_hours_narrow_the_ranking(
    ask: Ask, make_call: MakeCall, settings: Any
) -> None:
    settings.ANALYTICS_CALLING_HOURS = (9, 17)
    call_lead(make_call, lead_local(TUESDAY, 8), total=50)
    call_lead(make_call, lead_local(TUESDAY, 16, 59), total=3)
    call_lead(make_call, lead_local(TUESDAY, 17), total=60)
    body = ask(clock="lead")
    assert hours_of(body) == [10, 16]
    assert body["outside_calling_hours"] == 40 + 30 + 50 + 60


def test_best_times_may_be_empty(ask: Ask, make_call: MakeCall) -> None:
    """No slot inside the hours, or none inside them with ``min_calls`` calls."""
    call_lead(make_call, lead_local(TUESDAY, 22), total=30, won=10)
    call_lead(make_call, lead_local(TUESDAY, 12), total=5, won=5)
    assert ask(clock="lead", metric="connect_rate")["best_times"] == []
    counted = ask(clock="lead")
    assert hours_of(counted) == [12]
    assert counted["outside_calling_hours"] == 30


def test_the_answer_fits_the_contract(
    lead_client: APIClient, make_call: MakeCall, openapi_spec: OpenAPI
) -> None:
    call_lead(make_call, lead_local(TUESDAY, 22), total=2)
    make_call(created_at=lead_local(TUESDAY, 10), phone_number="")
    for clock in ("tz", "lead"):
        response = lead_client.get(HEATMAP_URL, {"clock": clock, "dense": "1"})
        validate(openapi_spec, response, request_too=True)
        csv_response = lead_client.get(HEATMAP_CSV_URL, {"clock": clock})
        validate(openapi_spec, csv_response, request_too=True)


# --- clock=lead: CSV ----------------------------------------------------------------------


def test_csv_on_the_leads_clock_says_so_in_its_name_and_holds_the_cells_only(
    lead_client: APIClient, make_call: MakeCall
) -> None:
    call_lead(make_call, lead_local(TUESDAY, 22), total=2, won=1)
    make_call(created_at=lead_local(TUESDAY, 10), phone_number=None)
    body = lead_client.get(HEATMAP_URL, {"clock": "lead"}).json()
    response = lead_client.get(HEATMAP_CSV_URL, {"clock": "lead"})
    start = (TODAY - timedelta(days=29)).isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="call-heatmap-{start}-to-{TODAY}-calls-lead.csv"'
    )
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table == [list(CSV_COLUMNS), ["2", DAY_NAMES[2], "22", "2", "1", "1", "0.5", "0.5"]]
    assert body["unplaced_calls"] == 1  # in the JSON only
    tz_file = lead_client.get(HEATMAP_CSV_URL, {"clock": "tz"})["Content-Disposition"]
    assert tz_file == f'attachment; filename="call-heatmap-{start}-to-{TODAY}-calls.csv"'


# --- clock=lead: the cache and the ETag ---------------------------------------------------


def test_each_clock_has_its_cache_entry_and_etag(
    lead_client: APIClient, make_call: MakeCall, settings: Any, agency_id: uuid.UUID
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    call_lead(make_call, lead_local(TUESDAY, 22), total=2)
    make_call(created_at=lead_local(TUESDAY, 10), phone_number="(212) 555-0100")
    lead = lead_client.get(HEATMAP_URL, {"clock": "lead", "tz": "Asia/Kolkata"})
    viewer = lead_client.get(HEATMAP_URL, {"clock": "tz", "tz": "Asia/Kolkata"})
    assert lead["ETag"] != viewer["ETag"]
    assert lead.json() != viewer.json()

    # The second asking is answered from the cache: the same body, counts and clock.
    make_call(created_at=lead_local(TUESDAY, 10), phone_number=NEW_YORK_NUMBER)
    again = lead_client.get(HEATMAP_URL, {"clock": "lead", "tz": "Asia/Kolkata"})
    assert again.json() == lead.json()
    assert (again.json()["clock"], again.json()["unplaced_calls"]) == ("lead", 1)
    assert again["ETag"] == lead["ETag"]

    not_modified = lead_client.get(
        HEATMAP_URL, {"clock": "lead", "tz": "Asia/Kolkata"}, HTTP_IF_NONE_MATCH=lead["ETag"]
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    # The other clock's ETag does not match this one's answer.
    other = lead_client.get(
        HEATMAP_URL, {"clock": "lead", "tz": "Asia/Kolkata"}, HTTP_IF_NONE_MATCH=viewer["ETag"]
    )
    assert other.status_code == 200


def test_a_narrower_setting_is_another_cache_entry(
    ask: Ask, make_call: MakeCall, settings: Any
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    call_lead(make_call, lead_local(TUESDAY, 8), total=3)
    assert ask(clock="lead")["outside_calling_hours"] == 0
    settings.ANALYTICS_CALLING_HOURS = (9, 17)
    assert ask(clock="lead")["outside_calling_hours"] == 3


def test_the_lead_clock_reads_no_other_agencys_calls(
    ask: Ask, make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    call_lead(make_call, lead_local(TUESDAY, 22), total=1)
    make_call(created_at=lead_local(TUESDAY, 22), agency_id=other_agency_id, phone_number=None)
    call_lead(make_call, lead_local(TUESDAY, 9), total=1, agency_id=other_agency_id)
    make_call(created_at=lead_local(TUESDAY, 9), phone_number=NEW_YORK_NUMBER, status="queued")
    body = ask(clock="lead")
    assert cells_of(body) == {(2, 22): [1, 0, 0]}
    assert (body["unplaced_calls"], body["outside_calling_hours"]) == (0, 1)
    assert Call.objects.count() == 4
