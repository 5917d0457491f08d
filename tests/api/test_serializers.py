"""``analytics.api.serializers``: a malformed query string is a 400 naming each bad field."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.helpers import BAD_ZONES, HEATMAP_URL, MakeCall

pytestmark = pytest.mark.django_db


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
        # The lead's clock: the values are spelled exactly, and blank is no default.
        ({"clock": "LEAD"}, "clock", '"LEAD" is not a valid choice.'),
        ({"clock": "x"}, "clock", '"x" is not a valid choice.'),
        ({"clock": ""}, "clock", "This field may not be blank."),
        ({"clock": ["lead", "lead"]}, "clock", "Give this parameter once."),
        ({"clock": ["tz", "lead"]}, "clock", "Give this parameter once."),
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
        HEATMAP_URL,
        {"period": "1y", "metric": "x", "campaign_id": "y", "client_id": "z", "clock": "utc"},
    )
    assert response.status_code == 400
    assert set(response.json()) == {"period", "metric", "campaign_id", "client_id", "clock"}


# --- the parameters' facts, over HTTP ---------------------------------------------------
# The endpoint's 400s for ``tz``, ``min_calls`` and ``dense``: each parameter's check,
# message and bounds as a caller of ``GET /api/dashboard-heatmap`` meets them.


@pytest.mark.django_db
@pytest.mark.parametrize(("tz", "message"), [*BAD_ZONES, ("", "This field may not be blank.")])
def test_bad_tz_is_400_with_a_field_message(auth_client: APIClient, tz: str, message: str) -> None:
    response = auth_client.get(HEATMAP_URL, {"tz": tz})
    assert response.status_code == 400
    assert response.json() == {"tz": [message]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("min_calls", "message"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        ("-5", "Ensure this value is greater than or equal to 1."),
        ("100001", "Ensure this value is less than or equal to 100000."),
        ("ten", "A valid integer is required."),
        ("2.5", "A valid integer is required."),
        ("", "This field may not be blank."),
    ],
)
def test_bad_min_calls_is_400(auth_client: APIClient, min_calls: str, message: str) -> None:
    response = auth_client.get(HEATMAP_URL, {"metric": "meeting_rate", "min_calls": min_calls})
    assert response.status_code == 400
    assert response.json() == {"min_calls": [message]}


@pytest.mark.django_db
@pytest.mark.parametrize("min_calls", ["1", "100000"])
def test_min_calls_limits_are_inclusive(auth_client: APIClient, min_calls: str) -> None:
    assert auth_client.get(HEATMAP_URL, {"min_calls": min_calls}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("dense", "cells"),
    [("true", 168), ("TRUE", 168), ("1", 168), ("false", 1), ("False", 1), ("0", 1)],
)
def test_dense_flag(auth_client: APIClient, make_call: MakeCall, dense: str, cells: int) -> None:
    make_call()
    body = auth_client.get(HEATMAP_URL, {"dense": dense}).json()
    assert len(body["heatmap"]) == cells
    assert len(body["best_times"]) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("dense", "message"),
    [
        ("yes", 'Must be "true", "false", "1" or "0".'),
        ("on", 'Must be "true", "false", "1" or "0".'),
        ("2", 'Must be "true", "false", "1" or "0".'),
        ("", "This field may not be blank."),
    ],
)
def test_bad_dense_is_400(auth_client: APIClient, dense: str, message: str) -> None:
    response = auth_client.get(HEATMAP_URL, {"dense": dense})
    assert response.status_code == 400
    assert response.json() == {"dense": [message]}
