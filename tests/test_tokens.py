"""``analytics.tokens`` and ``analytics.jwks``: verification with real keys over real HTTP."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.conf import settings
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics import jwks, tokens
from analytics.conf import conf
from analytics.jwks import JWKSUnavailable, forget_signing_keys
from analytics.tokens import decode_access_token
from tests.conftest import KeyStoreClock
from tests.jwks_server import (
    JWKS_PATH,
    JWKSServer,
    Keys,
    SigningKey,
    b64url,
    claims,
    hs256_token,
)

pytest_plugins = ["tests.jwks_server"]


def now_plus(seconds: float) -> int:
    return int((datetime.now(UTC) + timedelta(seconds=seconds)).timestamp())


@dataclass(frozen=True)
class FromNow:
    """A time claim relative to when the test runs, not to when it was collected."""

    seconds: float

    def __repr__(self) -> str:
        return f"now{self.seconds:+g}s"


# --- What verifies -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["es256", "rs256", "standby"])
def test_a_token_signed_with_any_published_key_verifies(
    supabase_project: JWKSServer, project_keys: Keys, name: str
) -> None:
    payload = claims()
    access_token = decode_access_token(getattr(project_keys, name).sign(payload))
    assert access_token.user_id == uuid.UUID(payload["sub"])
    assert access_token.claims == payload


def test_a_legacy_hs256_token_verifies_with_the_secret(supabase_project: JWKSServer) -> None:
    payload = claims()
    token = jwt.encode(payload, settings.SUPABASE_JWT_SECRET, algorithm="HS256")
    assert decode_access_token(token).claims == payload
    assert supabase_project.requests == 0, "HS256 needs no JWKS"


def test_without_a_secret_hs256_is_refused(supabase_project: JWKSServer) -> None:
    token = jwt.encode(claims(), settings.SUPABASE_JWT_SECRET, algorithm="HS256")
    with (
        override_settings(SUPABASE_JWT_SECRET=None),
        pytest.raises(tokens.TokenAlgorithmNotAllowed),
    ):
        decode_access_token(token)


def test_without_a_jwks_asymmetric_tokens_are_refused(
    jwks_server: JWKSServer, project_keys: Keys
) -> None:
    with pytest.raises(tokens.TokenAlgorithmNotAllowed):
        decode_access_token(project_keys.es256.sign(claims()))
    assert jwks_server.requests == 0


@pytest.mark.parametrize("suffix", ["", "/"])
def test_the_jwks_address_and_issuer_follow_from_supabase_url(
    jwks_server: JWKSServer, project_keys: Keys, suffix: str
) -> None:
    forget_signing_keys()
    with override_settings(SUPABASE_URL=jwks_server.base_url + suffix):
        jwks_url, issuer = conf.JWKS_URL, conf.JWT_ISSUER
        assert jwks_url == f"{jwks_server.base_url}{JWKS_PATH}"
        assert issuer == f"{jwks_server.base_url}/auth/v1"
        payload = claims(iss=f"{jwks_server.base_url}/auth/v1")
        assert decode_access_token(project_keys.es256.sign(payload)).claims == payload
        with pytest.raises(tokens.TokenIssuerInvalid):
            decode_access_token(project_keys.es256.sign(claims()))
    assert jwks_server.requests == 1


def test_supabase_jwks_url_overrides_the_derived_address(
    jwks_server: JWKSServer, project_keys: Keys
) -> None:
    forget_signing_keys()
    with override_settings(
        SUPABASE_URL="http://127.0.0.1:9", SUPABASE_JWKS_URL=jwks_server.jwks_url
    ):
        token = project_keys.rs256.sign(claims(iss="http://127.0.0.1:9/auth/v1"))
        assert decode_access_token(token).claims["iss"] == "http://127.0.0.1:9/auth/v1"


def test_defaults() -> None:
    assert conf.JWKS_CACHE_SECONDS == 600
    assert conf.JWKS_TIMEOUT_SECONDS == 5
    assert conf.JWKS_REFETCH_COOLDOWN_SECONDS == 30
    assert conf.JWT_LEEWAY_SECONDS == 30
    assert conf.JWT_AUDIENCE == "authenticated"
    assert conf.JWT_ISSUER is None
    assert conf.JWKS_URL is None


@override_settings(ANALYTICS_JWKS_CACHE_SECONDS=86_400)
def test_the_cache_lifetime_is_never_longer_than_ten_minutes() -> None:
    assert conf.JWKS_CACHE_SECONDS == 600


# --- Claims within the leeway, and the sub ------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"exp": FromNow(-10)}, None),
        ({"exp": FromNow(-60)}, tokens.TokenExpired),
        ({"nbf": FromNow(10)}, None),
        ({"nbf": FromNow(60)}, tokens.TokenNotYetValid),
        ({"iat": FromNow(10)}, None),
        ({"iat": FromNow(60)}, tokens.TokenNotYetValid),
        ({"exp": FromNow(3600.5)}, None),
        ({"exp": "9999999999"}, tokens.TokenClaimsInvalid),
        ({"exp": True}, tokens.TokenExpired),
        ({"iat": "now"}, tokens.TokenClaimsInvalid),
        ({"nbf": [1]}, tokens.TokenClaimsInvalid),
        ({"exp": 10**400}, tokens.TokenClaimsInvalid),
        ({"exp": math.inf}, tokens.TokenClaimsInvalid),
        ({"iat": -math.inf}, tokens.TokenClaimsInvalid),
        ({"nbf": math.nan}, tokens.TokenClaimsInvalid),
        ({"aud": ["authenticated", "other"]}, None),
        ({"aud": ["other"]}, tokens.TokenAudienceInvalid),
        ({"aud": ""}, tokens.TokenAudienceInvalid),
        ({"aud": 1}, tokens.TokenAudienceInvalid),
        ({"iss": None}, tokens.TokenIssuerInvalid),
        ({"iss": ["https://abcdefghijklmnop.supabase.co/auth/v1"]}, tokens.TokenIssuerInvalid),
        ({"sub": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}, None),
        ({"sub": "{6f9619ff-8b86-d011-b42d-00c04fc964ff}"}, tokens.TokenClaimsInvalid),
        ({"sub": "urn:uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff"}, tokens.TokenClaimsInvalid),
        ({"sub": "6f9619ff8b86d011b42d00c04fc964ff"}, tokens.TokenClaimsInvalid),
        ({"sub": 42}, tokens.TokenClaimsInvalid),
        ({"role": None}, tokens.TokenNotForUser),
        ({"role": "anon"}, tokens.TokenNotForUser),
        # Longer than Supabase's one-week maximum, measured from iat, or from now without it.
        ({"exp": FromNow(8 * 86400)}, tokens.TokenClaimsInvalid),
        ({"iat": FromNow(-8 * 86400)}, tokens.TokenClaimsInvalid),
        ({"iat": -(10**400)}, tokens.TokenClaimsInvalid),
        ({"iat": None, "exp": 1e30}, tokens.TokenClaimsInvalid),
        ({"iat": None, "exp": FromNow(8 * 86400)}, tokens.TokenClaimsInvalid),
        ({"is_anonymous": "true"}, tokens.TokenClaimsInvalid),
        ({"is_anonymous": 1}, tokens.TokenClaimsInvalid),
    ],
    ids=repr,
)
def test_claims(
    supabase_project: JWKSServer,
    project_keys: Keys,
    overrides: dict[str, object],
    error: type[tokens.TokenError] | None,
) -> None:
    resolved = {
        name: int(time.time()) + value.seconds if isinstance(value, FromNow) else value
        for name, value in overrides.items()
    }
    token = project_keys.es256.sign(claims(**resolved))
    if error is None:
        decode_access_token(token)
    else:
        with pytest.raises(error) as raised:
            decode_access_token(token)
        assert type(raised.value) is error


WEEK = 7 * 24 * 3600


@pytest.mark.parametrize(
    ("iat", "past_the_leeway"),
    # Without iat the lifetime is measured from when the check runs, a moment after ``now``.
    [(True, 31), (False, 35)],
    ids=["from iat", "from now, without iat"],
)
def test_a_lifetime_of_a_week_and_the_leeway_is_the_longest_accepted(
    supabase_project: JWKSServer, project_keys: Keys, iat: bool, past_the_leeway: int
) -> None:
    """Supabase's ``jwt_exp`` is at most a week; the leeway (30 s) gives the clocks slack."""
    now = int(time.time())
    start = {"iat": now} if iat else {"iat": None}
    decode_access_token(project_keys.es256.sign(claims(**start, exp=now + WEEK + 25)))
    too_long = claims(**start, exp=now + WEEK + past_the_leeway)
    with pytest.raises(tokens.TokenClaimsInvalid) as raised:
        decode_access_token(project_keys.es256.sign(too_long))
    assert str(raised.value) == (
        "The access token lives longer than Supabase ever issues a token for "
        "(604800 seconds from iat to exp)."
    )


def test_the_longest_lifetime_follows_the_setting(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    two_hours = project_keys.es256.sign(claims(exp=now_plus(2 * 3600)))
    decode_access_token(two_hours)
    with override_settings(ANALYTICS_JWT_MAX_LIFETIME_SECONDS=3600):
        with pytest.raises(tokens.TokenClaimsInvalid, match="3600 seconds"):
            decode_access_token(two_hours)
        decode_access_token(project_keys.es256.sign(claims(exp=now_plus(3600))))


def test_the_session_and_anonymity_are_read_once(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    """The values later layers use; a session_id that is not a canonical UUID names none."""
    session = uuid.uuid4()
    signed_in = decode_access_token(project_keys.es256.sign(claims(session_id=str(session))))
    assert (signed_in.session_id, signed_in.is_anonymous) == (session, False)
    anonymous = decode_access_token(project_keys.es256.sign(claims(is_anonymous=True)))
    assert anonymous.is_anonymous is True
    for odd in [None, "", "not-a-uuid", str(session).replace("-", ""), 42, [str(session)]]:
        token = project_keys.es256.sign(claims(session_id=odd, is_anonymous=None))
        access_token = decode_access_token(token)
        assert (access_token.session_id, access_token.is_anonymous) == (None, False)


def test_errors_have_stable_codes_and_never_echo_the_token(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    assert {cls.__name__: cls.code for cls in tokens.TokenError.__subclasses__()} == {
        "TokenMalformed": "token_malformed",
        "TokenHeaderUnsupported": "token_header_unsupported",
        "TokenAlgorithmNotAllowed": "token_algorithm_not_allowed",
        "TokenKeyUnknown": "token_unknown_key",
        "TokenSignatureInvalid": "token_bad_signature",
        "TokenExpired": "token_expired",
        "TokenNotYetValid": "token_not_yet_valid",
        "TokenAudienceInvalid": "token_bad_audience",
        "TokenIssuerInvalid": "token_bad_issuer",
        "TokenClaimsInvalid": "token_bad_claims",
        "TokenNotForUser": "token_not_user",
    }
    token = project_keys.es256.sign(claims(exp=now_plus(-3600)))
    with pytest.raises(tokens.TokenExpired) as raised:
        decode_access_token(token)
    for part in token.split("."):
        assert part not in str(raised.value)


# --- What PyJWT reads differently across the versions we support ------------------------


@pytest.mark.parametrize(
    "respell",
    [
        lambda token: token + "==",
        lambda token: f"{token[:-5]}~~~~{token[-5:]}",
        lambda token: f"{token[:-5]}\n{token[-5:]}",
    ],
    ids=["padded signature", "junk inside the signature", "newline inside the signature"],
)
def test_a_valid_token_spelled_another_way_is_malformed(
    supabase_project: JWKSServer, project_keys: Keys, respell: Callable[[str], str]
) -> None:
    """The signature is not signed itself: every spelling of it but one must be refused."""
    token = project_keys.es256.sign(claims())
    assert len(token.split(".")[2]) % 4 == 2, "two characters short of a quantum"
    decode_access_token(token)
    with pytest.raises(tokens.TokenMalformed):
        decode_access_token(respell(token))


@pytest.mark.parametrize(
    "extension",
    [
        {"crit": ["exp"], "exp": 1},
        {"crit": "exp", "exp": 1},
        {"crit": []},
        {"crit": [7]},
        {"crit": ["b64"]},
        {"crit": ["b64"], "b64": True},
        {"b64": True},
    ],
    ids=repr,
)
def test_every_jws_extension_is_unsupported(
    supabase_project: JWKSServer, extension: dict[str, object]
) -> None:
    token = hs256_token({"alg": "HS256", **extension}, claims(), settings.SUPABASE_JWT_SECRET)
    with pytest.raises(tokens.TokenHeaderUnsupported):
        decode_access_token(token)


def test_a_detached_payload_is_malformed(supabase_project: JWKSServer) -> None:
    """RFC 7797's ``b64: false`` leaves the payload segment empty: a token without claims."""
    secret = settings.SUPABASE_JWT_SECRET
    token = jwt.PyJWS().encode(
        json.dumps(claims()).encode(), secret, algorithm="HS256", is_payload_detached=True
    )
    assert token.split(".")[1] == ""
    with pytest.raises(tokens.TokenMalformed):
        decode_access_token(token)


@pytest.mark.parametrize("kid", [7, None, ["k"], {"k": 1}, True])
def test_a_kid_that_is_not_a_string_is_malformed(supabase_project: JWKSServer, kid: object) -> None:
    token = hs256_token({"alg": "HS256", "kid": kid}, claims(), settings.SUPABASE_JWT_SECRET)
    with pytest.raises(tokens.TokenMalformed):
        decode_access_token(token)


@pytest.mark.parametrize("alg", [None, 256, ["ES256"], {"ES256": 1}])
def test_an_alg_that_is_not_a_string_is_malformed(
    supabase_project: JWKSServer, project_keys: Keys, alg: object
) -> None:
    header = {"alg": alg, "kid": project_keys.es256.kid}
    with pytest.raises(tokens.TokenMalformed):
        decode_access_token(hs256_token(header, claims(), settings.SUPABASE_JWT_SECRET))


# --- Keys: symmetric keys never serve as HMAC secrets ------------------------------------


def test_a_symmetric_jwk_in_the_jwks_is_never_used(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    secret = b"an-hmac-secret-that-is-long-enough-for-hs256!"
    oct_jwk = {"kty": "oct", "k": b64url(secret), "kid": "shared", "alg": "HS256", "use": "sig"}
    supabase_project.answer_with(
        200, json.dumps({"keys": [project_keys.es256.public_jwk, oct_jwk]})
    )
    token = hs256_token({"alg": "HS256", "kid": "shared"}, claims(), secret)
    with (
        override_settings(SUPABASE_JWT_SECRET=None),
        pytest.raises(tokens.TokenAlgorithmNotAllowed),
    ):
        decode_access_token(token)
    with pytest.raises(tokens.TokenSignatureInvalid):
        decode_access_token(token)  # Tried with the configured secret only.
    with pytest.raises(tokens.TokenKeyUnknown):
        decode_access_token(hs256_token({"alg": "ES256", "kid": "shared"}, claims(), secret))


# --- The key store: one per process, cached, bounded fetches ----------------------------


def test_one_key_store_per_process_and_one_fetch_per_cache_lifetime(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    store = signing_keys_store()
    for _ in range(20):
        decode_access_token(project_keys.es256.sign(claims()))
        decode_access_token(project_keys.rs256.sign(claims()))
    assert signing_keys_store() is store
    assert supabase_project.requests == 1
    with override_settings(ANALYTICS_JWKS_TIMEOUT_SECONDS=2):
        assert signing_keys_store() is not store, "new settings, new store"


def signing_keys_store() -> object:
    store = jwks.signing_keys()
    assert store is not None
    return store


def test_a_burst_on_a_cold_cache_fetches_once(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    token = project_keys.es256.sign(claims())
    start = threading.Barrier(8)
    results: list[object] = []

    def verify() -> None:
        start.wait()
        results.append(decode_access_token(token).user_id)

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert supabase_project.requests == 1


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(kids=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=40, unique=True))
def test_random_unknown_kids_cause_at_most_one_fetch_per_cooldown(
    supabase_project: JWKSServer, project_keys: Keys, kids: list[str]
) -> None:
    forget_signing_keys()
    supabase_project.requests = 0
    key = project_keys.es256
    for kid in kids:
        if kid in {key.kid, project_keys.rs256.kid, project_keys.standby.kid}:
            continue
        with pytest.raises(tokens.TokenKeyUnknown):
            decode_access_token(key.sign(claims(), headers={"kid": kid}))
    assert supabase_project.requests <= 1


@override_settings(ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS=0.3)
def test_an_unknown_kid_refetches_once_the_cooldown_has_passed(
    supabase_project: JWKSServer, project_keys: Keys, key_store_clock: KeyStoreClock
) -> None:
    new_key = SigningKey.es256()
    token = new_key.sign(claims())
    for _ in range(10):
        with pytest.raises(tokens.TokenKeyUnknown):
            decode_access_token(token)
    assert supabase_project.requests == 1
    supabase_project.publish(project_keys.es256, new_key)
    key_store_clock.advance(0.35)
    for _ in range(10):
        decode_access_token(token)
    assert supabase_project.requests == 2
    for _ in range(10):
        with pytest.raises(tokens.TokenKeyUnknown):
            decode_access_token(project_keys.rs256.sign(claims()))  # Now gone.
    assert supabase_project.requests == 2, "within the cooldown again"


@override_settings(ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS=0)
def test_without_a_cooldown_an_unknown_kid_fetches_once_per_token(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    token = SigningKey.es256().sign(claims())
    for expected_requests in (1, 2, 3):
        with pytest.raises(tokens.TokenKeyUnknown):
            decode_access_token(token)
        assert supabase_project.requests == expected_requests


@override_settings(ANALYTICS_JWKS_CACHE_SECONDS=0.3, ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS=60)
def test_keys_are_read_again_when_the_cache_lifetime_has_passed(
    supabase_project: JWKSServer, project_keys: Keys, key_store_clock: KeyStoreClock
) -> None:
    token = project_keys.es256.sign(claims())
    decode_access_token(token)
    supabase_project.publish(project_keys.rs256)  # es256 revoked.
    decode_access_token(token)  # Still cached.
    key_store_clock.advance(0.35)
    with pytest.raises(tokens.TokenKeyUnknown):
        decode_access_token(token)
    assert supabase_project.requests == 2


# --- JWKS faults: one exception, logged, bounded retries, recovery ----------------------

GARBAGE = {
    "not JSON": (200, b"<html>Bad gateway</html>"),
    "not UTF-8": (200, b"\xff\xfe\xfd"),
    "a JSON array": (200, b"[]"),
    "no keys member": (200, b"{}"),
    "empty key set": (200, b'{"keys": []}'),
    "keys not a list": (200, b'{"keys": "none"}'),
    "unusable key material": (200, b'{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA"}]}'),
    "unhashable alg": (200, b'{"keys": [{"kty": "EC", "alg": ["ES256"], "kid": "k"}]}'),
    "deeply nested": (200, b'{"keys": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "HTTP 500": (500, b'{"error": "internal"}'),
    "HTTP 404": (404, b"not found"),
    "HTTP 302": (302, b""),
}


@pytest.mark.parametrize("answer", GARBAGE.values(), ids=GARBAGE.keys())
def test_a_jwks_answering_garbage_is_unavailable_and_logged(
    supabase_project: JWKSServer,
    project_keys: Keys,
    caplog: pytest.LogCaptureFixture,
    answer: tuple[int, bytes],
) -> None:
    supabase_project.answer_with(*answer)
    with caplog.at_level(logging.ERROR, logger="analytics.jwks"), pytest.raises(JWKSUnavailable):
        decode_access_token(project_keys.es256.sign(claims()))
    assert [record.name for record in caplog.records] == ["analytics.jwks"]
    assert supabase_project.jwks_url in caplog.text


@pytest.mark.parametrize(
    "jwk_change",
    [
        {"use": "enc"},
        {"kid": None},
        {"kid": ""},
        {"alg": "ES384"},
    ],
    ids=repr,
)
def test_a_jwks_without_a_usable_signing_key_is_unavailable(
    supabase_project: JWKSServer, project_keys: Keys, jwk_change: dict[str, object]
) -> None:
    jwk = {**project_keys.es256.public_jwk, **jwk_change}
    supabase_project.answer_with(200, json.dumps({"keys": [jwk]}))
    with pytest.raises(JWKSUnavailable):
        decode_access_token(project_keys.es256.sign(claims()))


def test_an_unreachable_jwks_is_unavailable_and_logged(
    supabase_project: JWKSServer, project_keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    supabase_project.stop()
    with caplog.at_level(logging.ERROR, logger="analytics.jwks"), pytest.raises(JWKSUnavailable):
        decode_access_token(project_keys.es256.sign(claims()))
    assert "refused" in caplog.text.lower()


@override_settings(ANALYTICS_JWKS_TIMEOUT_SECONDS=0.2)
def test_a_hanging_jwks_times_out(supabase_project: JWKSServer, project_keys: Keys) -> None:
    supabase_project.delay = 5
    started = time.monotonic()
    with pytest.raises(JWKSUnavailable):
        decode_access_token(project_keys.es256.sign(claims()))
    assert time.monotonic() - started < 2


@override_settings(ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS=0.3)
def test_after_a_failed_fetch_the_next_waits_for_the_cooldown(
    supabase_project: JWKSServer, project_keys: Keys, key_store_clock: KeyStoreClock
) -> None:
    token = project_keys.es256.sign(claims())
    supabase_project.answer_with(503, b"down for maintenance")
    for _ in range(10):
        with pytest.raises(JWKSUnavailable):
            decode_access_token(token)
    assert supabase_project.requests == 1
    supabase_project.publish(project_keys.es256)
    with pytest.raises(JWKSUnavailable):
        decode_access_token(token)  # Recovered, but not asked yet.
    key_store_clock.advance(0.35)
    decode_access_token(token)
    assert supabase_project.requests == 2


@override_settings(ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS=0)
def test_a_failed_refetch_keeps_the_cached_keys(
    supabase_project: JWKSServer, project_keys: Keys
) -> None:
    token = project_keys.es256.sign(claims())
    decode_access_token(token)
    supabase_project.answer_with(500, b"oops")
    with pytest.raises(JWKSUnavailable):
        decode_access_token(SigningKey.es256().sign(claims()))  # Unknown kid: refetch fails.
    decode_access_token(token)  # Known keys still verify within their lifetime.
