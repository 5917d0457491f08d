"""Every error of the endpoint is ``{"detail": ..., "code": ...}``, DRF's own included.

One table of the bodies, asked for through the real view; the 429 is pinned in
``test_throttling.py``, the calls-query 500 in ``test_api.py`` and the 503 in
``test_authentication.py``, where their set-ups live.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from analytics.exceptions import exception_handler
from tests.conftest import HEATMAP_URL, mint_token, table_away

Ask = Callable[[APIClient, Any], Any]

BODIES: dict[str, tuple[Ask, int, dict[str, str]]] = {
    "no token": (
        lambda client, user: client.get(HEATMAP_URL),
        401,
        {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
    ),
    "a token that is not a JWT": (
        lambda client, user: client.get(HEATMAP_URL, HTTP_AUTHORIZATION="Bearer not-a-jwt"),
        401,
        {"detail": "The access token is not a well-formed JWT.", "code": "token_malformed"},
    ),
    "no users row": (
        lambda client, user: client.get(
            HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(uuid.uuid4()))}"
        ),
        403,
        {"detail": "No user exists for this access token.", "code": "user_not_found"},
    ),
    "POST": (
        lambda client, user: client.post(HEATMAP_URL),
        405,
        {"detail": 'Method "POST" not allowed.', "code": "method_not_allowed"},
    ),
    "Accept: application/xml": (
        lambda client, user: client.get(
            HEATMAP_URL,
            HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}",
            HTTP_ACCEPT="application/xml",
        ),
        406,
        {"detail": "Could not satisfy the request Accept header.", "code": "not_acceptable"},
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BODIES))
def test_each_error_body(api_client: APIClient, user: Any, case: str) -> None:
    ask, status, body = BODIES[case]

    response = ask(api_client, user)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == body


@pytest.mark.django_db(transaction=True)
def test_a_failed_users_query_is_a_500_with_its_code(api_client: APIClient, user: Any) -> None:
    with table_away("users"):
        response = api_client.get(
            HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}"
        )

    assert response.status_code == 500
    assert response.json() == {
        "detail": "Failed to query users table",
        "code": "users_query_failed",
    }


@pytest.mark.django_db
def test_a_400_names_every_bad_parameter(api_client: APIClient, user: Any) -> None:
    """Several mistakes, so DRF's field map stays: one ``code`` could not name them all."""
    response = api_client.get(
        HEATMAP_URL,
        {"period": "5d", "tz": "Mars/Olympus"},
        HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"period", "tz"}


def test_errors_that_are_not_drfs_are_left_to_django() -> None:
    assert exception_handler(ValueError("boom"), {}) is None
