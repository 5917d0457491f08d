"""The endpoint's HTTP contract: shape, parameters and every error status."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from analytics.models import User
from tests.conftest import HEATMAP_URL, MakeCall, mint_token, table_away

pytestmark = pytest.mark.django_db

BEARER_CHALLENGE = 'Bearer realm="api"'


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


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


def test_trailing_slash_answers_without_redirect(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    plain = auth_client.get(HEATMAP_URL)
    slashed = auth_client.get(HEATMAP_URL + "/")
    assert plain.status_code == slashed.status_code == 200
    assert plain.json() == slashed.json()


def test_head_is_answered_like_get(auth_client: APIClient) -> None:
    assert auth_client.head(HEATMAP_URL).status_code == 200


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"period": "5d"}, "period", '"5d" is not a valid choice.'),
        ({"period": ""}, "period", "This field may not be blank."),
        ({"period": "30D"}, "period", '"30D" is not a valid choice.'),
        ({"metric": "revenue"}, "metric", '"revenue" is not a valid choice.'),
        ({"campaign_id": "1 OR 1=1"}, "campaign_id", "Must be a valid UUID."),
        ({"client_id": "'; DROP TABLE calls; --"}, "client_id", "Must be a valid UUID."),
        ({"client_id": ""}, "client_id", "This field may not be blank."),
        # Read as its last value, a repeated parameter could mean one thing to a proxy
        # and another here: schemathesis sent min_calls=<junk>&...&min_calls=100.0.
        ({"min_calls": ["junk", "5"]}, "min_calls", "Give this parameter once."),
        ({"period": ["7d", "7d"]}, "period", "Give this parameter once."),
    ],
)
def test_bad_parameters_are_400_with_field_messages(
    auth_client: APIClient, params: dict[str, Any], field: str, message: str
) -> None:
    response = auth_client.get(HEATMAP_URL, params)
    assert response.status_code == 400
    assert response.json() == {field: [message]}


def test_every_bad_field_is_reported_at_once(auth_client: APIClient) -> None:
    response = auth_client.get(
        HEATMAP_URL, {"period": "1y", "metric": "x", "campaign_id": "y", "client_id": "z"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"period", "metric", "campaign_id", "client_id"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer one two",
    ],
)
def test_missing_or_malformed_token_is_401_with_challenge(
    api_client: APIClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = api_client.get(HEATMAP_URL, **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": 1_000_000_000}, "token_expired"),
        ({"aud": "anon"}, "token_bad_audience"),
        ({"sub": "not-a-uuid"}, "token_bad_claims"),
        ({"sub": None}, "token_bad_claims"),
    ],
)
def test_invalid_token_is_401_with_a_code(
    api_client: APIClient, user: User, claims: dict[str, object], code: str
) -> None:
    token = mint_token(**{"sub": str(user.id), **claims})
    response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert response.json()["code"] == code
    assert token not in response.content.decode()


def test_token_signed_with_another_secret_is_401(api_client: APIClient, user: User) -> None:
    token = mint_token(sub=str(user.id), secret="another-projects-secret-of-32-characters!")
    response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "token_bad_signature"


def test_valid_token_without_users_row_is_403(api_client: APIClient, db: None) -> None:
    token = mint_token(sub=str(uuid.uuid4()))
    response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403
    assert response.json()["code"] == "user_not_found"


def test_user_without_agency_is_403(api_client: APIClient, db: None) -> None:
    user = User.objects.create(id=uuid.uuid4(), agency_id=None)
    response = api_client.get(
        HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "user_without_agency"


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


def test_calls_query_failure_is_500_json_logged_and_recovers(
    auth_client: APIClient, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    make_call()
    with table_away("calls"), caplog.at_level(logging.ERROR, logger="analytics"):
        response = auth_client.get(HEATMAP_URL)
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Failed to query calls table",
        "code": "calls_query_failed",
    }
    said = response.content.decode()
    assert "calls" not in said.replace("Failed to query calls table", "").replace(
        "calls_query_failed", ""
    )
    [record] = [r for r in caplog.records if r.name == "analytics.selectors"]
    assert record.exc_info is not None
    recovered = auth_client.get(HEATMAP_URL)
    assert recovered.status_code == 200
    assert recovered.json()["heatmap"][0]["total_calls"] == 1


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
