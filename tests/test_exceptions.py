"""``analytics.exceptions``: errors as data, and one body for every error of the endpoint.

An ``AnalyticsError`` is a code and a message (and when to ask again); ``api_error`` gives
each code its HTTP error, and every error is ``{"detail": ..., "code": ...}``, DRF's own
included. One table of the bodies, asked for through the real view; the 429 is pinned in
``tests/api/test_throttling.py``, the calls-query 500 in ``tests/api/test_views.py``, the
503 in ``tests/auth/test_jwks.py`` and the 412 in ``tests/api/test_caching.py``, where
their set-ups live.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from analytics.exceptions import (
    HTTP_ERRORS,
    MESSAGES,
    AuthError,
    HeatmapError,
    RollupError,
    ServerError,
    Unauthenticated,
    api_error,
    exception_handler,
)
from tests.helpers import HEATMAP_URL, mint_token, table_away

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


# --- errors as data ------------------------------------------------------------------------

#: The token's codes: stable, part of the contract (openapi.yaml's 401), each its own kind.
TOKEN_CODES = {
    "token_invalid",
    "token_malformed",
    "token_header_unsupported",
    "token_algorithm_not_allowed",
    "token_unknown_key",
    "token_bad_signature",
    "token_expired",
    "token_not_yet_valid",
    "token_bad_audience",
    "token_bad_issuer",
    "token_bad_claims",
    "token_not_user",
}


def test_the_token_codes_are_stable_and_each_a_401() -> None:
    assert {code for code in MESSAGES if code.startswith("token_")} == TOKEN_CODES
    assert {HTTP_ERRORS[code] for code in TOKEN_CODES} == {Unauthenticated}
    error = api_error(AuthError(code="token_expired"))
    assert (error.status_code, error.get_codes(), error.detail) == (
        401,
        "token_expired",
        "The access token has expired.",
    )


def test_an_error_says_its_message_and_when_to_ask_again() -> None:
    busy = HeatmapError(code="scans_busy", retry_after=5)
    assert busy.message == MESSAGES["scans_busy"]
    assert str(busy) == (
        "Too many heatmaps of this agency are being counted right now; retry soon. "
        "Try again in 5 s."
    )
    assert str(HeatmapError()) == "Failed to query calls table"
    response = exception_handler(busy, {})
    assert response is not None
    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert response.data == {"detail": MESSAGES["scans_busy"], "code": "scans_busy"}


def test_a_code_the_api_does_not_answer_is_a_500() -> None:
    error = api_error(RollupError("The rollup is not installed."))
    assert isinstance(error, ServerError)
    assert (error.status_code, error.get_codes()) == (500, "rollup_failed")
