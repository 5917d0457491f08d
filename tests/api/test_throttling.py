"""``analytics.api.throttling``: each user gets the configured rate, then a 429 that says when.

The throttles read ``time.time``; ``clock`` (time-machine) stops it and moves it on, so
a window slides exactly when the test says. The rates' checks are in ``tests/test_checks.py``.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from openapi_core import OpenAPI
from rest_framework.test import APIClient
from time_machine import TimeMachineFixture

from analytics.models import User
from tests.helpers import HEATMAP_URL, mint_token, run_python, validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def rate(settings: Any) -> Iterator[None]:
    """Three requests a minute, counted in a cache of the test's own."""
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = "3/min"
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"throttle-{uuid.uuid4()}",
        },
    }
    settings.ANALYTICS_HEATMAP_CACHE = "throttle"
    yield
    caches["throttle"].clear()


def client_for(agency_id: uuid.UUID) -> APIClient:
    user = User.objects.create(id=uuid.uuid4(), agency_id=agency_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    return client


@pytest.mark.usefixtures("rate")
def test_over_the_rate_is_a_429_with_retry_after(
    auth_client: APIClient, clock: TimeMachineFixture
) -> None:
    for _ in range(3):
        assert auth_client.get(HEATMAP_URL).status_code == 200
    clock.shift(15)
    throttled = auth_client.get(HEATMAP_URL, {"format": "csv"})
    assert throttled.status_code == 429
    assert throttled["Retry-After"] == "45"
    assert throttled["Content-Type"] == "application/json"
    assert "Content-Disposition" not in throttled
    assert throttled.json() == {
        "detail": "Request was throttled. Expected available in 45 seconds.",
        "code": "throttled",
    }


@pytest.mark.usefixtures("rate")
def test_the_window_slides(auth_client: APIClient, clock: TimeMachineFixture) -> None:
    for step in range(3):
        clock.shift(10 * step)
        assert auth_client.get(HEATMAP_URL).status_code == 200
    assert auth_client.get(HEATMAP_URL).status_code == 429
    clock.shift(30.5)  # the first request is more than a minute old; the other two are not
    assert auth_client.get(HEATMAP_URL).status_code == 200
    assert auth_client.get(HEATMAP_URL).status_code == 429
    clock.shift(60)
    assert auth_client.get(HEATMAP_URL).status_code == 200


@pytest.mark.usefixtures("rate", "clock")
def test_each_user_has_their_own_allowance(auth_client: APIClient, agency_id: uuid.UUID) -> None:
    for _ in range(3):
        auth_client.get(HEATMAP_URL)
    assert auth_client.get(HEATMAP_URL).status_code == 429
    colleague = client_for(agency_id)  # same agency, another user
    assert [colleague.get(HEATMAP_URL).status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.mark.usefixtures("rate")
def test_the_users_of_one_agency_share_the_agency_allowance(
    settings: Any, auth_client: APIClient, agency_id: uuid.UUID, clock: TimeMachineFixture
) -> None:
    """Each user under their own rate, together over the agency's: the next is a 429."""
    settings.ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE = "5/min"
    colleagues = [auth_client, client_for(agency_id), client_for(agency_id)]
    statuses = [c.get(HEATMAP_URL).status_code for c in colleagues for _ in range(2)]
    assert statuses == [200, 200, 200, 200, 200, 429]
    refused = colleagues[2].get(HEATMAP_URL)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    # Another agency's users are not held back by this one.
    assert client_for(uuid.uuid4()).get(HEATMAP_URL).status_code == 200
    clock.shift(61)
    assert colleagues[1].get(HEATMAP_URL).status_code == 200


@pytest.mark.usefixtures("rate", "clock")
def test_a_user_over_their_own_rate_spends_nothing_of_the_agencys(
    settings: Any, auth_client: APIClient, agency_id: uuid.UUID
) -> None:
    """Refused by their own throttle, a user's requests are not counted for the agency."""
    settings.ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE = "5/min"
    assert [auth_client.get(HEATMAP_URL).status_code for _ in range(20)] == [200] * 3 + [429] * 17
    colleague = client_for(agency_id)
    assert [colleague.get(HEATMAP_URL).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.usefixtures("rate", "clock")
def test_no_agency_rate_turns_the_agency_throttle_off(
    settings: Any, auth_client: APIClient, agency_id: uuid.UUID
) -> None:
    settings.ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE = None
    colleagues = [auth_client, *(client_for(agency_id) for _ in range(3))]
    assert {c.get(HEATMAP_URL).status_code for c in colleagues for _ in range(3)} == {200}


@pytest.mark.usefixtures("rate", "clock")
def test_keyed_on_the_user_in_the_configured_cache(auth_client: APIClient, user: User) -> None:
    auth_client.get(HEATMAP_URL)
    assert caches["throttle"].get(f"throttle_dashboard_heatmap_{user.pk}") is not None
    assert caches["default"].get(f"throttle_dashboard_heatmap_{user.pk}") is None
    agency_key = f"throttle_dashboard_heatmap_agency_{user.agency_id}"
    assert caches["throttle"].get(agency_key) is not None


@pytest.mark.usefixtures("rate", "clock")
def test_refused_requests_are_not_counted(auth_client: APIClient) -> None:
    """Throttles run after authentication and permissions: 401s and 403s cost nothing."""
    anonymous, stranger = APIClient(), APIClient()
    # A valid token whose user has no users row: a 403.
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(uuid.uuid4()))}")
    for _ in range(5):
        assert anonymous.get(HEATMAP_URL).status_code == 401
        assert stranger.get(HEATMAP_URL).status_code == 403
    assert [auth_client.get(HEATMAP_URL).status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.mark.parametrize("off", [None, ""])
def test_no_rate_turns_throttling_off(settings: Any, auth_client: APIClient, off: Any) -> None:
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = off
    assert {auth_client.get(HEATMAP_URL).status_code for _ in range(10)} == {200}


@pytest.mark.usefixtures("rate", "clock")
def test_the_hosts_throttle_settings_change_nothing(settings: Any, auth_client: APIClient) -> None:
    settings.REST_FRAMEWORK = {
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"dashboard_heatmap": "1/min", "anon": "1/min", "user": "1/min"},
    }
    assert [auth_client.get(HEATMAP_URL).status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.mark.usefixtures("dead_redis_cache")
def test_a_dead_throttle_cache_lets_requests_through_and_logs(
    settings: Any, auth_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = "1/min"
    settings.ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE = "1/min"
    with caplog.at_level(logging.WARNING, logger="analytics.api.throttling"):
        statuses = [auth_client.get(HEATMAP_URL).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    warnings = [r for r in caplog.records if r.name == "analytics.api.throttling"]
    assert len(warnings) == 3 * 2  # the user's throttle and the agency's, on each request
    assert warnings[0].getMessage() == (
        "Throttle cache 'default' unreachable; letting the request through"
    )
    assert warnings[0].exc_info is not None


@pytest.mark.usefixtures("rate", "clock")
def test_the_429_fits_the_openapi_contract(auth_client: APIClient, openapi_spec: OpenAPI) -> None:
    for _ in range(3):
        auth_client.get(HEATMAP_URL)
    response = auth_client.get(HEATMAP_URL)
    assert response.status_code == 429
    validate(openapi_spec, response, request_too=True)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "120/min"),
        ({"HEATMAP_THROTTLE_RATE": "5/min"}, "5/min"),
        ({"HEATMAP_THROTTLE_RATE": ""}, None),
    ],
)
def test_the_demo_reads_the_rate_from_its_environment(
    environment: dict[str, str], expected: str | None
) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HEATMAP_THROTTLE_RATE")
    }
    env.update(DJANGO_SETTINGS_MODULE="heatmap_project.settings", **environment)
    printed = run_python(
        "-c",
        "import django; django.setup(); from analytics.conf import conf; "
        "print(conf.HEATMAP_THROTTLE_RATE)",
        env=env,
    )
    assert printed.strip() == str(expected)
