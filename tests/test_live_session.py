"""``ANALYTICS_REQUIRE_LIVE_SESSION``: a token counts only while its Supabase session lives.

On PostgreSQL each test that needs it gets an ``auth.sessions`` table of Supabase
Auth's shape, created inside the test's transaction (so it is gone afterwards);
SQLite can have no ``auth`` schema, so those tests skip there. A token without a
usable ``session_id`` and a missing table are answered without one and run on both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from analytics.authentication import SupabaseClaimsAuthentication
from analytics.checks import check_live_sessions
from analytics.exceptions import exception_handler
from analytics.models import User
from tests.conftest import mint_token

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


class ClaimsOnlyApi(APIView):
    """A host's view that needs the claims only: no ``users`` row is read."""

    authentication_classes = [SupabaseClaimsAuthentication]
    permission_classes = [IsAuthenticated]

    def get_exception_handler(self) -> Any:
        return exception_handler

    def get(self, request: Request) -> Response:
        return Response({"user_id": str(request.user.id)})


urlpatterns = [
    path("api/", include("analytics.urls")),
    path("claims-only", ClaimsOnlyApi.as_view()),
]

HEATMAP_URL = "/api/dashboard-heatmap"
BEARER_CHALLENGE = 'Bearer realm="api"'
SESSION_ENDED = {
    "detail": "The session this access token belongs to has ended; sign in again.",
    "code": "session_ended",
}
NO_SESSION = {
    "detail": "The access token names no session; sign in again.",
    "code": "session_ended",
}

#: Supabase Auth's ``auth.sessions`` (its migrations), less the foreign key to
#: ``auth.users``, which the app never reads; ``aal`` is an enum there.
AUTH_SESSIONS_DDL = """
CREATE SCHEMA auth;
CREATE TABLE auth.sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    created_at timestamptz,
    updated_at timestamptz,
    factor_id uuid,
    aal text,
    not_after timestamptz,
    refreshed_at timestamp,
    user_agent text,
    ip inet,
    tag text
);
CREATE INDEX user_id_created_at_idx ON auth.sessions (user_id, created_at);
CREATE INDEX not_after_idx ON auth.sessions (not_after DESC);
"""


class Sessions:
    """Rows of the test's ``auth.sessions``, as Supabase Auth writes and deletes them."""

    def sign_in(self, user_id: uuid.UUID, *, not_after: datetime | None = None) -> uuid.UUID:
        session_id = uuid.uuid4()
        now = datetime.now(UTC)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after,"
                " user_agent, ip) VALUES (%s, %s, %s, %s, 'aal1', %s, 'pytest', '127.0.0.1')",
                [session_id, user_id, now, now, not_after],
            )
        return session_id

    def sign_out(self, session_id: uuid.UUID) -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM auth.sessions WHERE id = %s", [session_id])

    def time_box(self, session_id: uuid.UUID, not_after: datetime) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE auth.sessions SET not_after = %s WHERE id = %s", [not_after, session_id]
            )


@pytest.fixture
def auth_sessions(on_postgresql: None) -> Sessions:
    """``auth.sessions`` on the users' database, for this test's transaction only."""
    with connection.cursor() as cursor:
        cursor.execute(AUTH_SESSIONS_DDL)
    return Sessions()


@pytest.fixture
def live_sessions_required() -> Iterator[None]:
    with override_settings(ANALYTICS_REQUIRE_LIVE_SESSION=True):
        yield


def bearer(user: User, **claims: Any) -> str:
    return f"Bearer {mint_token(sub=str(user.id), **claims)}"


def session_reads(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"] for query in queries.captured_queries if '"auth"."sessions"' in query["sql"]
    ]


def get(api_client: APIClient, authorization: str, url: str = HEATMAP_URL) -> Any:
    """The response, with the reads of ``auth.sessions`` it took as ``session_reads``."""
    with CaptureQueriesContext(connection) as queries:
        response: Any = api_client.get(url, HTTP_AUTHORIZATION=authorization)
    response.session_reads = session_reads(queries)
    return response


def assert_session_ended(response: Any, body: dict[str, str] = SESSION_ENDED) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert response.json() == body


# --- On PostgreSQL, against a table of Supabase's shape -------------------------------------


@pytest.mark.usefixtures("live_sessions_required")
def test_a_sign_out_ends_the_token_at_once(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    session_id = auth_sessions.sign_in(user.id)
    token = bearer(user, session_id=str(session_id))
    response = get(api_client, token)
    assert response.status_code == 200, response.content
    assert len(response.session_reads) == 1, "one read per request"

    auth_sessions.sign_out(session_id)
    assert_session_ended(get(api_client, token))


@pytest.mark.usefixtures("live_sessions_required")
def test_a_session_past_its_not_after_has_ended(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    """Supabase's time-boxed sessions: ``not_after`` is when the session stops."""
    session_id = auth_sessions.sign_in(user.id, not_after=datetime.now(UTC) + timedelta(hours=1))
    token = bearer(user, session_id=str(session_id))
    assert get(api_client, token).status_code == 200

    auth_sessions.time_box(session_id, datetime.now(UTC) - timedelta(seconds=1))
    assert_session_ended(get(api_client, token))


@pytest.mark.usefixtures("live_sessions_required")
def test_a_session_of_another_user_does_not_count(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    someone_else = auth_sessions.sign_in(uuid.uuid4())
    response = get(api_client, bearer(user, session_id=str(someone_else)))
    assert_session_ended(response)
    assert len(response.session_reads) == 1


@pytest.mark.usefixtures("live_sessions_required")
def test_claims_only_views_read_the_session_and_nothing_else(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    session_id = auth_sessions.sign_in(user.id)
    token = bearer(user, session_id=str(session_id))
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get("/claims-only", HTTP_AUTHORIZATION=token)
    assert response.status_code == 200
    assert len(queries.captured_queries) == len(session_reads(queries)) == 1

    auth_sessions.sign_out(session_id)
    assert_session_ended(get(api_client, token, "/claims-only"))


def test_the_setting_off_reads_no_session(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    """Off by default: a signed-out session's token serves until its ``exp``."""
    session_id = auth_sessions.sign_in(user.id)
    auth_sessions.sign_out(session_id)
    token = bearer(user, session_id=str(session_id))
    response = get(api_client, token)
    assert response.status_code == 200
    assert response.session_reads == []

    with override_settings(ANALYTICS_REQUIRE_LIVE_SESSION=True):
        response = get(api_client, token)
    assert_session_ended(response)
    assert len(response.session_reads) == 1


@pytest.mark.usefixtures("live_sessions_required")
def test_an_anonymous_sign_in_is_refused_before_its_session_is_read(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    token = bearer(user, session_id=str(auth_sessions.sign_in(user.id)), is_anonymous=True)
    response = get(api_client, token)
    assert response.status_code == 403
    assert response.json()["code"] == "anonymous_user"
    assert response.session_reads == []


# --- On either database: no query needed, or the query fails ------------------------------


@pytest.mark.usefixtures("live_sessions_required")
@pytest.mark.parametrize(
    "session_id",
    [None, "", "not-a-session", "6f9619ff8b86d011b42d00c04fc964ff", 42, ["x"]],
    ids=repr,
)
def test_a_token_without_a_usable_session_id_is_refused_unread(
    user: User, api_client: APIClient, session_id: Any
) -> None:
    """Supabase's access tokens always name their session: one that does not is not one."""
    response = get(api_client, bearer(user, session_id=session_id))
    assert_session_ended(response, NO_SESSION)
    assert response.session_reads == []


@pytest.mark.usefixtures("live_sessions_required")
def test_without_a_sessions_table_the_answer_is_a_500_that_shows_no_sql(
    user: User, api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="analytics.authentication"):
        response = get(api_client, bearer(user, session_id=str(uuid.uuid4())))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "Failed to query sessions table",
        "code": "sessions_query_failed",
    }
    assert "WWW-Authenticate" not in response.headers
    for leak in ("SELECT", 'sessions"', "not_after", "Traceback"):
        assert leak not in response.content.decode()
    [record] = [r for r in caplog.records if r.name == "analytics.authentication"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None, "logged with its traceback"
    assert str(user.id) in record.getMessage()


# --- analytics.E025 with the table there (tests/test_checks.py: without it) -----------------


def test_e025_passes_with_a_readable_sessions_table(auth_sessions: Sessions) -> None:
    with override_settings(ANALYTICS_REQUIRE_LIVE_SESSION=True):
        assert check_live_sessions(databases=["default"]) == []


def test_e025_when_django_cannot_read_the_sessions_table(auth_sessions: Sessions) -> None:
    """Supabase's ``auth`` schema belongs to its Auth server; Django's role may not read it."""
    role = f"analytics_test_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        # Inside the test's transaction: the role is gone with its rollback.
        cursor.execute(f"CREATE ROLE {role}")
        cursor.execute(f"SET LOCAL ROLE {role}")
    try:
        with override_settings(ANALYTICS_REQUIRE_LIVE_SESSION=True):
            [error] = check_live_sessions(databases=["default"])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert error.id == "analytics.E025"
    assert "cannot read" in error.msg
