"""``analytics.auth.authentication``: who is calling, through HTTP.

Every bad token is a 401 (never a 500), a token the endpoint still refuses a 403, the
agency comes from the ``users`` row alone, and with ``ANALYTICS_REQUIRE_LIVE_SESSION``
a token counts only while its Supabase session lives. The project's JWKS is served over
real HTTP (``tests.helpers.JWKSServer``); tokens are signed with the matching private
keys. Nothing in verification is mocked.

On PostgreSQL each live-session test that needs it gets an ``auth.sessions`` table of
Supabase Auth's shape (``auth_sessions``), created inside the test's transaction; SQLite
can have no ``auth`` schema, so those tests skip there. A token without a usable
``session_id`` and a missing table are answered without one and run on both.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from analytics.auth.authentication import (
    SupabaseClaimsAuthentication,
    SupabaseJWTAuthentication,
    SupabaseUser,
)
from analytics.exceptions import exception_handler
from analytics.models import User
from tests.helpers import (
    BEARER_CHALLENGE,
    HEATMAP_URL,
    PROJECT_URL,
    JWKSServer,
    Keys,
    MakeCall,
    Sessions,
    b64url,
    b64url_json,
    claims,
    hs256_token,
    mint_token,
)

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


class ClaimsApi(APIView):
    """A host's own view: what the authentication class hands to views."""

    authentication_classes = [SupabaseJWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get_exception_handler(self) -> Any:
        # A host's view opts in to the app's error bodies (docs/api.md, "Errors").
        return exception_handler

    def get(self, request: Request) -> Response:
        assert isinstance(request.user, SupabaseUser)
        return Response(
            {
                "user_id": str(request.user.id),
                "agency_id": request.user.agency_id and str(request.user.agency_id),
                "auth": request.auth,
            }
        )


class ClaimsOnlyApi(ClaimsApi):
    authentication_classes = [SupabaseClaimsAuthentication]


class CombinedApi(ClaimsApi):
    """Our class first, then DRF's: the challenge is still ours."""

    authentication_classes = [
        SupabaseJWTAuthentication,
        BasicAuthentication,
        SessionAuthentication,
    ]


urlpatterns = [
    path("api/", include("analytics.urls")),
    path("claims", ClaimsApi.as_view()),
    path("claims-only", ClaimsOnlyApi.as_view()),
    path("combined", CombinedApi.as_view()),
]


def now_plus(seconds: float) -> int:
    return int((datetime.now(UTC) + timedelta(seconds=seconds)).timestamp())


@dataclass
class Project:
    """A signed-in user of the Supabase project and every way to make a token for them."""

    user: User
    keys: Keys
    jwks: JWKSServer
    secret: str = field(default_factory=lambda: settings.SUPABASE_JWT_SECRET)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return claims(**{"sub": str(self.user.id), **overrides})

    def es256(self, **overrides: Any) -> str:
        return self.keys.es256.sign(self.claims(**overrides))

    def rs256(self, **overrides: Any) -> str:
        return self.keys.rs256.sign(self.claims(**overrides))

    def hs256(self, payload: Any | None = None, **overrides: Any) -> str:
        """Signed with the project's legacy JWT secret."""
        payload = self.claims(**overrides) if payload is None else payload
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def legacy_api_key(self, role: str) -> str:
        """The anon / service_role API keys of a legacy project: JWTs with that secret."""
        iat = now_plus(0)
        payload = {"iss": "supabase", "ref": "abcdefghijklmnop", "role": role, "iat": iat}
        return jwt.encode({**payload, "exp": iat + 10 * 365 * 86400}, self.secret, "HS256")

    def sub_of_user(self, agency_id: uuid.UUID | None) -> str:
        return str(User.objects.create(id=uuid.uuid4(), agency_id=agency_id).id)

    def with_segment(self, token: str, index: int, segment: str) -> str:
        parts = token.split(".")
        parts[index] = segment
        return ".".join(parts)


@pytest.fixture
def project(user: User, project_keys: Keys, supabase_project: JWKSServer) -> Project:
    return Project(user=user, keys=project_keys, jwks=supabase_project)


def get(api_client: APIClient, authorization: str | None, url: str = HEATMAP_URL) -> Any:
    """The response, with the reads of ``auth.sessions`` it took as ``session_reads``."""
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    with CaptureQueriesContext(connection) as queries:
        response: Any = api_client.get(url, **headers)
    response.session_reads = session_reads(queries)
    return response


def session_reads(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"] for query in queries.captured_queries if '"auth"."sessions"' in query["sql"]
    ]


# --- Every bad token, with its exact answer ----------------------------------------------


@dataclass(frozen=True)
class Case:
    authorization: Callable[[Project], str | None]
    status: int
    code: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    jwks: Callable[[JWKSServer], None] | None = None


def bearer(make: Callable[[Project], str]) -> Callable[[Project], str]:
    return lambda p: f"Bearer {make(p)}"


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def with_stray_bits(token: str) -> str:
    """The same signature bytes spelled differently: the last character's unused bits set."""
    last = token[-1]
    return token[:-1] + BASE64URL[BASE64URL.index(last) | 1]


def nested(depth: int) -> str:
    return b64url(b"[" * depth + b"]" * depth)


NOT_AUTHENTICATED = "not_authenticated"  # DRF's own 401, with the app's code

CASES: dict[str, Case] = {
    # The header itself.
    "missing header": Case(lambda p: None, 401, NOT_AUTHENTICATED),
    "empty header": Case(lambda p: "", 401, NOT_AUTHENTICATED),
    "Basic x": Case(lambda p: "Basic x", 401, NOT_AUTHENTICATED),
    "another scheme with a valid token": Case(
        lambda p: f"Token {p.es256()}", 401, NOT_AUTHENTICATED
    ),
    "Bearer alone": Case(lambda p: "Bearer", 401, "authorization_header_invalid"),
    "Bearer and spaces": Case(lambda p: "Bearer   ", 401, "authorization_header_invalid"),
    "two tokens": Case(
        lambda p: f"Bearer {p.es256()} {p.es256()}", 401, "authorization_header_invalid"
    ),
    # The token's shape.
    "garbage": Case(lambda p: "Bearer garbage", 401, "token_malformed"),
    "two parts": Case(bearer(lambda p: p.es256().rsplit(".", 1)[0]), 401, "token_malformed"),
    "four parts": Case(bearer(lambda p: p.es256() + ".e30"), 401, "token_malformed"),
    "bad base64": Case(lambda p: "Bearer !!!.@@@.###", 401, "token_malformed"),
    "padded base64": Case(
        bearer(lambda p: p.with_segment(p.es256(), 0, b64url_json({"alg": "ES256"}) + "=")),
        401,
        "token_malformed",
    ),
    "bad JSON header": Case(
        bearer(lambda p: p.with_segment(p.es256(), 0, b64url(b'{"alg": "ES256"'))),
        401,
        "token_malformed",
    ),
    "bad JSON payload": Case(
        bearer(lambda p: p.with_segment(p.es256(), 1, b64url(b"{'sub': 1}"))),
        401,
        "token_malformed",
    ),
    "non-ASCII characters": Case(lambda p: "Bearer tökén.ünï.cödé", 401, "token_malformed"),
    "undecodable bytes": Case(
        lambda p: "Bearer " + b"\xff\xfe\x80.\xc3\x28.\xa0".decode("latin-1"),
        401,
        "token_malformed",
    ),
    "9 KB token": Case(bearer(lambda p: p.es256(padding="x" * 9 * 1024)), 401, "token_malformed"),
    "nested JSON payload": Case(
        bearer(lambda p: p.with_segment(p.es256(), 1, nested(3000))), 401, "token_malformed"
    ),
    "nested JSON header": Case(
        bearer(lambda p: p.with_segment(p.es256(), 0, nested(3000))), 401, "token_malformed"
    ),
    "payload a JSON array, validly signed": Case(
        bearer(lambda p: p.keys.es256.sign([p.claims()])), 401, "token_malformed"
    ),
    "header a JSON string": Case(
        bearer(lambda p: p.with_segment(p.es256(), 0, b64url_json("ES256"))),
        401,
        "token_malformed",
    ),
    "sb_publishable key": Case(
        lambda p: "Bearer sb_publishable_A1b2C3d4E5f6G7h8I9j0Kl_MnOpQrS", 401, "token_malformed"
    ),
    "sb_secret key": Case(
        lambda p: "Bearer sb_secret_A1b2C3d4E5f6G7h8I9j0Kl_MnOpQrStUv", 401, "token_malformed"
    ),
    # The header's algorithm and key.
    "alg none": Case(
        bearer(
            lambda p: f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{b64url_json(p.claims())}."
        ),
        401,
        "token_algorithm_not_allowed",
    ),
    "alg None with a signature": Case(
        bearer(lambda p: p.with_segment(p.es256(), 0, b64url_json({"alg": "None", "kid": "x"}))),
        401,
        "token_algorithm_not_allowed",
    ),
    "no alg": Case(
        bearer(lambda p: p.with_segment(p.es256(), 0, b64url_json({"typ": "JWT"}))),
        401,
        "token_malformed",
    ),
    "HS256 signed with the public key (PEM)": Case(
        bearer(
            lambda p: hs256_token(
                {"alg": "HS256", "kid": p.keys.es256.kid}, p.claims(), p.keys.es256.public_pem
            )
        ),
        401,
        "token_bad_signature",
    ),
    "HS256 signed with the JWK text": Case(
        bearer(
            lambda p: hs256_token(
                {"alg": "HS256", "kid": p.keys.rs256.kid},
                p.claims(),
                json.dumps(p.keys.rs256.public_jwk),
            )
        ),
        401,
        "token_bad_signature",
    ),
    "HS256 with no secret configured": Case(
        bearer(lambda p: p.hs256()),
        401,
        "token_algorithm_not_allowed",
        settings={"SUPABASE_JWT_SECRET": None},
    ),
    "HS384 with the secret": Case(
        bearer(lambda p: jwt.encode(p.claims(), p.secret, algorithm="HS384")),
        401,
        "token_algorithm_not_allowed",
    ),
    "RS256 header on the EC key": Case(
        bearer(lambda p: p.keys.rs256.sign(p.claims(), headers={"kid": p.keys.es256.kid})),
        401,
        "token_algorithm_not_allowed",
    ),
    "ES256 header on the RSA key": Case(
        bearer(lambda p: p.keys.es256.sign(p.claims(), headers={"kid": p.keys.rs256.kid})),
        401,
        "token_algorithm_not_allowed",
    ),
    "missing kid": Case(
        bearer(lambda p: p.keys.es256.sign(p.claims(), headers={"kid": None})),
        401,
        "token_unknown_key",
    ),
    "non-string kid": Case(
        bearer(lambda p: p.with_segment(p.es256(), 0, b64url_json({"alg": "ES256", "kid": 7}))),
        401,
        "token_malformed",
    ),
    "unknown kid": Case(
        bearer(lambda p: p.keys.es256.sign(p.claims(), headers={"kid": "not-a-key"})),
        401,
        "token_unknown_key",
    ),
    "kid of another published key": Case(
        bearer(lambda p: p.keys.es256.sign(p.claims(), headers={"kid": p.keys.standby.kid})),
        401,
        "token_bad_signature",
    ),
    "crit header": Case(
        bearer(lambda p: p.keys.es256.sign(p.claims(), headers={"crit": ["exp"], "exp": 1})),
        401,
        "token_header_unsupported",
    ),
    "b64 header": Case(
        bearer(lambda p: p.with_segment(p.es256(), 0, b64url_json({"alg": "ES256", "b64": True}))),
        401,
        "token_header_unsupported",
    ),
    # The signature.
    "tampered payload": Case(
        bearer(
            lambda p: p.with_segment(p.es256(), 1, b64url_json(p.claims(sub=str(uuid.uuid4()))))
        ),
        401,
        "token_bad_signature",
    ),
    "truncated signature": Case(
        bearer(lambda p: (lambda t: t[: len(t) - 4 - len(t.split(".")[2]) % 4])(p.es256())),
        401,
        "token_bad_signature",
    ),
    "signature with stray trailing bits": Case(
        bearer(lambda p: with_stray_bits(p.es256())), 401, "token_malformed"
    ),
    "empty signature": Case(
        bearer(lambda p: p.with_segment(p.es256(), 2, "")), 401, "token_bad_signature"
    ),
    "tampered RS256 payload": Case(
        bearer(lambda p: p.with_segment(p.rs256(), 1, b64url_json(p.claims(role="x")))),
        401,
        "token_bad_signature",
    ),
    # Time.
    "expired": Case(bearer(lambda p: p.es256(exp=now_plus(-3600))), 401, "token_expired"),
    "missing exp": Case(bearer(lambda p: p.es256(exp=None)), 401, "token_bad_claims"),
    "non-numeric exp": Case(bearer(lambda p: p.es256(exp="tomorrow")), 401, "token_bad_claims"),
    "exp a numeric string": Case(
        bearer(lambda p: p.es256(exp=str(now_plus(3600)))), 401, "token_bad_claims"
    ),
    "nbf in the future": Case(
        bearer(lambda p: p.es256(nbf=now_plus(3600))), 401, "token_not_yet_valid"
    ),
    "iat in the future beyond the leeway": Case(
        bearer(lambda p: p.es256(iat=now_plus(120))), 401, "token_not_yet_valid"
    ),
    # Audience and issuer.
    "wrong aud": Case(bearer(lambda p: p.es256(aud="anon")), 401, "token_bad_audience"),
    "missing aud": Case(bearer(lambda p: p.es256(aud=None)), 401, "token_bad_audience"),
    "aud array without ours": Case(
        bearer(lambda p: p.es256(aud=["anon", "other"])), 401, "token_bad_audience"
    ),
    "iss of another project": Case(
        bearer(lambda p: p.es256(iss="https://zyxwvutsrqponmlk.supabase.co/auth/v1")),
        401,
        "token_bad_issuer",
    ),
    "iss with a trailing slash": Case(
        bearer(lambda p: p.es256(iss=f"{PROJECT_URL}/auth/v1/")), 401, "token_bad_issuer"
    ),
    "missing iss": Case(bearer(lambda p: p.es256(iss=None)), 401, "token_bad_issuer"),
    # Not a signed-in user.
    "anon key": Case(bearer(lambda p: p.legacy_api_key("anon")), 401, "token_bad_claims"),
    "service_role key": Case(
        bearer(lambda p: p.legacy_api_key("service_role")), 401, "token_bad_claims"
    ),
    "role service_role, validly signed": Case(
        bearer(lambda p: p.es256(role="service_role")), 401, "token_not_user"
    ),
    "role anon, validly signed": Case(
        bearer(lambda p: p.es256(role="anon")), 401, "token_not_user"
    ),
    "no role": Case(bearer(lambda p: p.es256(role=None)), 401, "token_not_user"),
    "missing sub": Case(bearer(lambda p: p.es256(sub=None)), 401, "token_bad_claims"),
    "sub not a UUID": Case(bearer(lambda p: p.es256(sub="admin")), 401, "token_bad_claims"),
    "sub a number": Case(bearer(lambda p: p.es256(sub=12345)), 401, "token_bad_claims"),
    # Lifetimes Supabase never issues (at most a week).
    "lifetime of eight days": Case(
        bearer(lambda p: p.es256(exp=now_plus(8 * 86400))), 401, "token_bad_claims"
    ),
    "exp 1e30 without iat": Case(
        bearer(lambda p: p.es256(iat=None, exp=1e30)), 401, "token_bad_claims"
    ),
    "legacy HS256 token of a year": Case(
        bearer(lambda p: p.hs256(exp=now_plus(365 * 86400))), 401, "token_bad_claims"
    ),
    "is_anonymous a string": Case(
        bearer(lambda p: p.es256(is_anonymous="true")), 401, "token_bad_claims"
    ),
    # An anonymous sign-in: a genuine token, but no account behind it.
    "anonymous sign-in": Case(bearer(lambda p: p.es256(is_anonymous=True)), 403, "anonymous_user"),
    "anonymous sign-in, legacy HS256": Case(
        bearer(lambda p: p.hs256(is_anonymous=True)), 403, "anonymous_user"
    ),
    # Valid tokens the endpoint still refuses.
    "user row missing": Case(
        bearer(lambda p: p.es256(sub=str(uuid.uuid4()))), 403, "user_not_found"
    ),
    "agency null": Case(
        bearer(lambda p: p.es256(sub=p.sub_of_user(agency_id=None))), 403, "user_without_agency"
    ),
    # The JWKS: a server-side fault.
    "JWKS down": Case(
        bearer(lambda p: p.es256()), 503, "jwks_unavailable", jwks=lambda server: server.stop()
    ),
    "JWKS empty": Case(
        bearer(lambda p: p.es256()),
        503,
        "jwks_unavailable",
        jwks=lambda server: server.publish(),
    ),
    "JWKS garbage": Case(
        bearer(lambda p: p.es256()),
        503,
        "jwks_unavailable",
        jwks=lambda server: server.answer_with(200, "<html>502 Bad Gateway</html>"),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_tokens(project: Project, api_client: APIClient, case: Case) -> None:
    if case.jwks is not None:
        case.jwks(project.jwks)
    with override_settings(**case.settings):
        authorization = case.authorization(project)
        response = get(api_client, authorization)

    assert response.status_code == case.status
    assert response.headers.get("WWW-Authenticate") == (
        BEARER_CHALLENGE if case.status == 401 else None
    )
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body.get("code") == case.code
    if authorization:
        for part in authorization.split():
            if len(part) > 8:
                assert part not in response.content.decode(), "never echo the token"


def test_at_least_thirty_bad_token_cases() -> None:
    assert len(CASES) >= 30


# --- Good tokens -------------------------------------------------------------------------

GOOD: dict[str, Callable[[Project], str]] = {
    "ES256": lambda p: f"Bearer {p.es256()}",
    "RS256": lambda p: f"Bearer {p.rs256()}",
    "standby key": lambda p: f"Bearer {p.keys.standby.sign(p.claims())}",
    "legacy HS256": lambda p: f"Bearer {p.hs256()}",
    "lowercase bearer": lambda p: f"bearer {p.es256()}",
    "uppercase BEARER": lambda p: f"BEARER {p.es256()}",
    "tab and spaces around": lambda p: f"  Bearer\t {p.es256()}  ",
    "aud array": lambda p: f"Bearer {p.es256(aud=['authenticated', 'other'])}",
    "expired within the leeway": lambda p: f"Bearer {p.es256(exp=now_plus(-10))}",
    "iat just ahead, within the leeway": lambda p: f"Bearer {p.es256(iat=now_plus(10))}",
}


@pytest.mark.parametrize("authorization", GOOD.values(), ids=GOOD.keys())
def test_good_tokens(
    project: Project, api_client: APIClient, authorization: Callable[[Project], str]
) -> None:
    response = get(api_client, authorization(project))
    assert response.status_code == 200, response.content
    assert "WWW-Authenticate" not in response.headers
    assert "heatmap" in response.json()


def test_without_supabase_url_the_issuer_is_not_checked(
    user: User, api_client: APIClient, project_keys: Keys, jwks_server: JWKSServer
) -> None:
    """A project configured by its JWKS address alone, as the demo is by its secret alone."""
    with override_settings(SUPABASE_JWKS_URL=jwks_server.jwks_url):
        token = project_keys.es256.sign(claims(sub=str(user.id), iss="anything"))
        assert get(api_client, f"Bearer {token}").status_code == 200


# --- What views get ----------------------------------------------------------------------


def test_views_get_the_claims_and_the_agency(project: Project, api_client: APIClient) -> None:
    payload = project.claims()
    response = get(api_client, f"Bearer {project.keys.es256.sign(payload)}", "/claims")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": str(project.user.id),
        "agency_id": str(project.user.agency_id),
        "auth": payload,
    }


def test_claims_only_views_skip_the_user_lookup(
    project: Project, api_client: APIClient, django_assert_num_queries: Any
) -> None:
    stranger = str(uuid.uuid4())  # No users row at all.
    token = f"Bearer {project.es256(sub=stranger)}"
    with django_assert_num_queries(0):
        response = get(api_client, token, "/claims-only")
    assert response.status_code == 200
    assert response.json()["user_id"] == stranger
    assert response.json()["agency_id"] is None
    assert response.json()["auth"]["sub"] == stranger


def test_claims_only_views_never_read_the_agency(
    project: Project, api_client: APIClient, django_assert_num_queries: Any
) -> None:
    """Even for a user whose row names one: the view asked for the claims, nothing more."""
    payload = project.claims()
    with django_assert_num_queries(0):
        response = get(api_client, f"Bearer {project.keys.es256.sign(payload)}", "/claims-only")
    assert response.status_code == 200
    assert response.json() == {"user_id": str(project.user.id), "agency_id": None, "auth": payload}


def test_without_claims_only_the_users_row_is_required(
    project: Project, api_client: APIClient
) -> None:
    response = get(api_client, f"Bearer {project.es256(sub=str(uuid.uuid4()))}", "/claims")
    assert response.status_code == 403
    assert response.json()["code"] == "user_not_found"


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (lambda p: None, 401),
        (lambda p: "Basic x", 401),
        (lambda p: "Basic dXNlcjpwYXNzd29yZA==", 401),
        (lambda p: "Bearer garbage", 401),
        (lambda p: f"Bearer {p.es256()}", 200),
    ],
    ids=["no header", "bad Basic", "wrong Basic password", "bad Bearer", "good Bearer"],
)
def test_combined_with_other_authenticators_the_challenge_is_bearer(
    project: Project,
    api_client: APIClient,
    authorization: Callable[[Project], str | None],
    status: int,
) -> None:
    response = get(api_client, authorization(project), "/combined")
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"] == BEARER_CHALLENGE


# --- Anonymous sign-ins -----------------------------------------------------------------


@pytest.mark.parametrize("url", ["/claims", "/claims-only", HEATMAP_URL])
def test_anonymous_sign_ins_are_refused_before_any_query(
    project: Project, api_client: APIClient, django_assert_num_queries: Any, url: str
) -> None:
    """A 403, not a 401: the token is genuine, signing in again the same way would not help."""
    with django_assert_num_queries(0):
        response = get(api_client, f"Bearer {project.es256(is_anonymous=True)}", url)
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response.headers
    assert response.json() == {
        "detail": "Anonymous users cannot read this; sign in with an account.",
        "code": "anonymous_user",
    }


def test_a_host_may_allow_anonymous_sign_ins(project: Project, api_client: APIClient) -> None:
    token = f"Bearer {project.es256(is_anonymous=True)}"
    assert get(api_client, token, "/claims").status_code == 403
    with override_settings(ANALYTICS_ALLOW_ANONYMOUS_USERS=True):
        response = get(api_client, token, "/claims")
    assert response.status_code == 200
    assert response.json()["auth"]["is_anonymous"] is True
    assert get(api_client, f"Bearer {project.es256(is_anonymous=False)}").status_code == 200


def test_an_over_long_token_says_why(project: Project, api_client: APIClient) -> None:
    token = project.es256(exp=now_plus(30 * 86400))
    response = get(api_client, f"Bearer {token}")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "The access token lives longer than Supabase ever issues a token for "
        "(604800 seconds from iat to exp).",
        "code": "token_bad_claims",
    }


# --- The demo's tokens: the legacy secret ------------------------------------------------


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
    response = get(api_client, authorization)
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
    response = get(api_client, f"Bearer {token}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert response.json()["code"] == code
    assert token not in response.content.decode()


def test_token_signed_with_another_secret_is_401(api_client: APIClient, user: User) -> None:
    token = mint_token(sub=str(user.id), secret="another-projects-secret-of-32-characters!")
    response = get(api_client, f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "token_bad_signature"


# --- The agency: from the users row, and nothing else ----------------------------------------


def test_valid_token_without_users_row_is_403(api_client: APIClient) -> None:
    response = get(api_client, f"Bearer {mint_token(sub=str(uuid.uuid4()))}")
    assert response.status_code == 403
    assert response.json()["code"] == "user_not_found"


def test_user_without_agency_is_403(api_client: APIClient) -> None:
    user = User.objects.create(id=uuid.uuid4(), agency_id=None)
    response = get(api_client, f"Bearer {mint_token(sub=str(user.id))}")
    assert response.status_code == 403
    assert response.json()["code"] == "user_without_agency"


def test_the_agency_comes_from_the_users_row_and_nothing_else(
    user: User, make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    """Tenant isolation: an agency named in the query string, a header, a cookie or the
    token's own claims changes nothing."""
    make_call()
    for _ in range(3):
        make_call(agency_id=other_agency_id)
    other = str(other_agency_id)
    claims = {"agency_id": other, "app_metadata": {"agency_id": other}}
    client = APIClient()
    # A token that names the other agency in its claims: only the users row counts.
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id), **claims)}")
    client.cookies["agency_id"] = other
    baseline = APIClient()
    baseline.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    expected = baseline.get(HEATMAP_URL).json()
    assert sum(cell["total_calls"] for cell in expected["heatmap"]) == 1

    response = client.get(
        f"{HEATMAP_URL}?agency_id={other}&agency_id={other}&agency={other}&agencyId={other}",
        HTTP_X_AGENCY_ID=other,
        HTTP_AGENCY_ID=other,
        HTTP_X_TENANT_ID=other,
        HTTP_X_SUPABASE_AGENCY_ID=other,
        HTTP_X_FORWARDED_USER=other,
    )
    assert response.status_code == 200
    assert response.json() == expected


# --- Live sessions (ANALYTICS_REQUIRE_LIVE_SESSION) --------------------------------------------

SESSION_ENDED = {
    "detail": "The session this access token belongs to has ended; sign in again.",
    "code": "session_ended",
}
NO_SESSION = {
    "detail": "The access token names no session; sign in again.",
    "code": "session_ended",
}


@pytest.fixture
def live_sessions_required() -> Iterator[None]:
    with override_settings(ANALYTICS_REQUIRE_LIVE_SESSION=True):
        yield


def signed_in(user: User, **claims: Any) -> str:
    return f"Bearer {mint_token(sub=str(user.id), **claims)}"


def live_session(auth_sessions: Sessions, user: User, **session: Any) -> tuple[uuid.UUID, str]:
    """A session of ``user`` signed in to ``auth.sessions``, and a token of it."""
    session_id = auth_sessions.sign_in(user.id, **session)
    return session_id, signed_in(user, session_id=str(session_id))


def assert_session_ended(
    response: Any, body: dict[str, str] = SESSION_ENDED, *, reads: int | None = None
) -> None:
    """A 401 saying the session ended; with ``reads``, after that many reads of
    ``auth.sessions`` (:func:`get`'s ``session_reads``)."""
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert response.json() == body
    if reads is not None:
        assert len(response.session_reads) == reads


@pytest.mark.usefixtures("live_sessions_required")
def test_a_sign_out_ends_the_token_at_once(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    session_id, token = live_session(auth_sessions, user)
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
    session_id, token = live_session(
        auth_sessions, user, not_after=datetime.now(UTC) + timedelta(hours=1)
    )
    assert get(api_client, token).status_code == 200

    auth_sessions.time_box(session_id, datetime.now(UTC) - timedelta(seconds=1))
    assert_session_ended(get(api_client, token))


@pytest.mark.usefixtures("live_sessions_required")
def test_a_session_of_another_user_does_not_count(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    someone_else = auth_sessions.sign_in(uuid.uuid4())
    response = get(api_client, signed_in(user, session_id=str(someone_else)))
    assert_session_ended(response, reads=1)


@pytest.mark.usefixtures("live_sessions_required")
def test_claims_only_views_read_the_session_and_nothing_else(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    session_id, token = live_session(auth_sessions, user)
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get("/claims-only", HTTP_AUTHORIZATION=token)
    assert response.status_code == 200
    assert len(queries.captured_queries) == len(session_reads(queries)) == 1

    auth_sessions.sign_out(session_id)
    assert_session_ended(get(api_client, token, "/claims-only"))


def test_the_live_session_setting_off_reads_no_session(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    """Off by default: a signed-out session's token serves until its ``exp``."""
    session_id, token = live_session(auth_sessions, user)
    auth_sessions.sign_out(session_id)
    response = get(api_client, token)
    assert response.status_code == 200
    assert response.session_reads == []

    with override_settings(ANALYTICS_REQUIRE_LIVE_SESSION=True):
        response = get(api_client, token)
    assert_session_ended(response, reads=1)


@pytest.mark.usefixtures("live_sessions_required")
def test_an_anonymous_sign_in_is_refused_before_its_session_is_read(
    user: User, api_client: APIClient, auth_sessions: Sessions
) -> None:
    token = signed_in(user, session_id=str(auth_sessions.sign_in(user.id)), is_anonymous=True)
    response = get(api_client, token)
    assert response.status_code == 403
    assert response.json()["code"] == "anonymous_user"
    assert response.session_reads == []


@pytest.mark.usefixtures("live_sessions_required")
@pytest.mark.parametrize(
    "session_id",
    [None, "", "not-a-session", "6f9619ff8b86d011b42d00c04fc964ff", 42, ["x"]],
    ids=repr,
)
def test_a_token_without_a_usable_session_id_is_refused_unread(
    user: User, api_client: APIClient, session_id: Any
) -> None:
    """Supabase's access tokens always name their session: one that does not is not one.

    There is no ``auth.sessions`` here, so a read would have been a 500.
    """
    response = get(api_client, signed_in(user, session_id=session_id))
    assert_session_ended(response, NO_SESSION, reads=0)


@pytest.mark.usefixtures("live_sessions_required")
def test_without_a_sessions_table_the_answer_is_a_500_that_shows_no_sql(
    user: User, api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="analytics.auth.authentication"):
        response = get(api_client, signed_in(user, session_id=str(uuid.uuid4())))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "Failed to query sessions table",
        "code": "sessions_query_failed",
    }
    assert "WWW-Authenticate" not in response.headers
    for leak in ("SELECT", 'sessions"', "not_after", "Traceback"):
        assert leak not in response.content.decode()
    [record] = [r for r in caplog.records if r.name == "analytics.auth.authentication"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None, "logged with its traceback"
    assert str(user.id) in record.getMessage()


# --- Anything at all in the Authorization header -----------------------------------------


def mutate(token: str, position: int, replacement: str) -> str:
    position %= len(token) + 1
    return token[:position] + replacement + token[position + 1 :]


@hypothesis_settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_authorization_header_is_a_401_or_the_valid_tokens_200(
    project: Project, api_client: APIClient, data: st.DataObject
) -> None:
    valid = project.es256()
    header = data.draw(
        st.one_of(
            st.text(),
            st.binary().map(lambda raw: raw.decode("latin-1")),
            st.text().map(lambda text: f"Bearer {text}"),
            st.from_regex(r"[A-Za-z0-9_=.-]{0,400}", fullmatch=True).map(
                lambda text: f"Bearer {text}"
            ),
            st.builds(mutate, st.just(valid), st.integers(0, 600), st.characters()).map(
                lambda token: f"Bearer {token}"
            ),
            st.sampled_from(["Bearer", "bearer", "Basic", "Bearer ", f"Bearer {valid}"]),
        ),
        label="Authorization",
    )
    response = get(api_client, header)
    assert response.status_code in (200, 401), (response.status_code, response.content)
    if response.status_code == 200:
        assert header.split()[-1] == valid
    else:
        assert response["WWW-Authenticate"] == BEARER_CHALLENGE
