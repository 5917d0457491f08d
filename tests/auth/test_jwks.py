"""``analytics.auth.jwks``: the project's keys, kept per process, fetched within bounds.

The JWKS is served over real HTTP (``tests.helpers.JWKSServer``), which counts the
fetches it answers. Cache lifetimes and cooldowns pass when the test moves the clock
(``clock``, time-machine) past ``CACHE_SECONDS`` or ``COOLDOWN_SECONDS``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from time_machine import TimeMachineFixture

from analytics.auth import jwks
from analytics.auth.jwks import CACHE_SECONDS, COOLDOWN_SECONDS, forget_signing_keys
from analytics.auth.tokens import decode_access_token
from analytics.exceptions import AuthError
from analytics.models import User
from tests.helpers import (
    BEARER_CHALLENGE,
    HEATMAP_URL,
    JWKSServer,
    Keys,
    SigningKey,
    b64url,
    claims,
    hs256_token,
)


def refused_with(token: str) -> str:
    """The code of the error ``token`` is refused with."""
    with pytest.raises(AuthError) as raised:
        decode_access_token(token)
    return raised.value.code


def test_the_timings_are_supabases() -> None:
    """Supabase serves its JWKS with a 10-minute cache; no setting changes any of these."""
    assert (jwks.CACHE_SECONDS, jwks.TIMEOUT_SECONDS, jwks.COOLDOWN_SECONDS) == (600, 5, 30)


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
    with override_settings(SUPABASE_JWT_SECRET=None):
        assert refused_with(token) == "token_algorithm_not_allowed"
    assert refused_with(token) == "token_bad_signature"  # Tried with the configured secret only.
    forged = hs256_token({"alg": "ES256", "kid": "shared"}, claims(), secret)
    assert refused_with(forged) == "token_unknown_key"


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
    with override_settings(SUPABASE_JWKS_URL=supabase_project.jwks_url + "?moved"):
        assert signing_keys_store() is not store, "another JWKS, another store"


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
        assert refused_with(key.sign(claims(), headers={"kid": kid})) == "token_unknown_key"
    assert supabase_project.requests <= 1


def test_an_unknown_kid_refetches_once_the_cooldown_has_passed(
    supabase_project: JWKSServer, project_keys: Keys, clock: TimeMachineFixture
) -> None:
    new_key = SigningKey.es256()
    token = new_key.sign(claims())
    for _ in range(10):
        assert refused_with(token) == "token_unknown_key"
    assert supabase_project.requests == 1
    supabase_project.publish(project_keys.es256, new_key)
    clock.shift(COOLDOWN_SECONDS - 1)
    assert refused_with(token) == "token_unknown_key"
    assert supabase_project.requests == 1, "still within the cooldown"
    clock.shift(1)
    for _ in range(10):
        decode_access_token(token)
    assert supabase_project.requests == 2
    for _ in range(10):
        gone = project_keys.rs256.sign(claims())
        assert refused_with(gone) == "token_unknown_key"
    assert supabase_project.requests == 2, "within the cooldown again"


def test_each_cooldown_that_passes_lets_an_unknown_kid_fetch_once_more(
    supabase_project: JWKSServer, project_keys: Keys, clock: TimeMachineFixture
) -> None:
    token = SigningKey.es256().sign(claims())
    for expected_requests in (1, 2, 3):
        assert refused_with(token) == "token_unknown_key"
        assert refused_with(token) == "token_unknown_key"
        assert supabase_project.requests == expected_requests
        clock.shift(COOLDOWN_SECONDS)


def verified_then_revoked(supabase_project: JWKSServer, project_keys: Keys) -> str:
    """A token of the ES256 key, verified once (the key set is now cached); then the key
    revoked: the project publishes only its RS256 key."""
    token = project_keys.es256.sign(claims())
    decode_access_token(token)
    supabase_project.publish(project_keys.rs256)
    return token


def test_keys_are_read_again_when_the_cache_lifetime_has_passed(
    supabase_project: JWKSServer, project_keys: Keys, clock: TimeMachineFixture
) -> None:
    token = verified_then_revoked(supabase_project, project_keys)
    clock.shift(CACHE_SECONDS - 1)
    decode_access_token(token)  # Still cached.
    assert supabase_project.requests == 1
    clock.shift(1)
    assert refused_with(token) == "token_unknown_key"
    assert supabase_project.requests == 2


def test_the_cache_lifetime_is_ten_minutes_whatever_the_settings_say(
    supabase_project: JWKSServer, project_keys: Keys, clock: TimeMachineFixture
) -> None:
    """``ANALYTICS_JWKS_CACHE_SECONDS`` is gone (``analytics.W005`` names it): a revoked key
    is never trusted for longer than Supabase's own cache keeps it."""
    with override_settings(ANALYTICS_JWKS_CACHE_SECONDS=86_400):
        token = verified_then_revoked(supabase_project, project_keys)
        clock.shift(600)
        assert refused_with(token) == "token_unknown_key"


def test_a_clock_set_back_never_stretches_the_cache_lifetime(
    supabase_project: JWKSServer, project_keys: Keys, clock: TimeMachineFixture
) -> None:
    """Keys fetched "in the future" are stale: a revoked key stops verifying at once."""
    token = verified_then_revoked(supabase_project, project_keys)
    clock.shift(-3600)
    assert refused_with(token) == "token_unknown_key"  # Read before the token's times.
    assert supabase_project.requests == 2


# --- JWKS faults: one error, logged, bounded retries, recovery ----------------------------

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
    with caplog.at_level(logging.ERROR, logger="analytics.auth.jwks"):
        assert refused_with(project_keys.es256.sign(claims())) == "jwks_unavailable"
    assert [record.name for record in caplog.records] == ["analytics.auth.jwks"]
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
    assert refused_with(project_keys.es256.sign(claims())) == "jwks_unavailable"


def test_an_unreachable_jwks_is_unavailable_and_logged(
    supabase_project: JWKSServer, project_keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    supabase_project.stop()
    with caplog.at_level(logging.ERROR, logger="analytics.auth.jwks"):
        assert refused_with(project_keys.es256.sign(claims())) == "jwks_unavailable"
    assert "refused" in caplog.text.lower()


def test_a_hanging_jwks_times_out(
    supabase_project: JWKSServer, project_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real server that holds its answer: the short timeout keeps the test short.
    monkeypatch.setattr(jwks, "TIMEOUT_SECONDS", 0.2)
    supabase_project.delay = 5
    started = time.monotonic()
    assert refused_with(project_keys.es256.sign(claims())) == "jwks_unavailable"
    assert time.monotonic() - started < 2


def test_after_a_failed_fetch_the_next_waits_for_the_cooldown(
    supabase_project: JWKSServer, project_keys: Keys, clock: TimeMachineFixture
) -> None:
    token = project_keys.es256.sign(claims())
    supabase_project.answer_with(503, b"down for maintenance")
    for _ in range(10):
        assert refused_with(token) == "jwks_unavailable"
    assert supabase_project.requests == 1
    supabase_project.publish(project_keys.es256)
    clock.shift(COOLDOWN_SECONDS - 1)
    assert refused_with(token) == "jwks_unavailable"  # Recovered, but not asked yet.
    clock.shift(1)
    decode_access_token(token)
    assert supabase_project.requests == 2


def test_a_failed_refetch_keeps_the_cached_keys(
    supabase_project: JWKSServer, project_keys: Keys, clock: TimeMachineFixture
) -> None:
    token = project_keys.es256.sign(claims())
    decode_access_token(token)
    supabase_project.answer_with(500, b"oops")
    clock.shift(COOLDOWN_SECONDS)
    unknown = SigningKey.es256().sign(claims())
    assert refused_with(unknown) == "jwks_unavailable"  # Unknown kid: the refetch fails.
    assert supabase_project.requests == 2
    decode_access_token(token)  # Known keys still verify within their lifetime.


# --- Through the endpoint: rotation, recovery, a hang, made-up kids ------------------------


def bearer(key: SigningKey, user: User) -> str:
    return f"Bearer {key.sign(claims(sub=str(user.id)))}"


@pytest.mark.django_db
def test_key_rotation_without_restarting(
    user: User,
    api_client: APIClient,
    project_keys: Keys,
    supabase_project: JWKSServer,
    clock: TimeMachineFixture,
) -> None:
    old, new = project_keys.es256, SigningKey.es256()
    old_token, new_token = bearer(old, user), bearer(new, user)
    assert api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=old_token).status_code == 200
    response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=new_token)
    assert response.json()["code"] == "token_unknown_key"

    # The new key is published beside the one in use: both are trusted.
    supabase_project.publish(new, old, project_keys.rs256)
    clock.shift(COOLDOWN_SECONDS)  # An unknown kid refetches at most once per cooldown.
    assert api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=new_token).status_code == 200
    assert api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=old_token).status_code == 200

    # The old key is revoked: trusted until the cache lifetime has passed, never longer.
    supabase_project.publish(new, project_keys.rs256)
    assert api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=old_token).status_code == 200
    clock.shift(CACHE_SECONDS)
    response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=old_token)
    assert response.status_code == 401
    assert response.json()["code"] == "token_unknown_key"
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=new_token).status_code == 200


@pytest.mark.django_db
def test_the_endpoint_recovers_when_the_jwks_comes_back(
    user: User,
    api_client: APIClient,
    project_keys: Keys,
    supabase_project: JWKSServer,
    caplog: pytest.LogCaptureFixture,
    clock: TimeMachineFixture,
) -> None:
    token = bearer(project_keys.es256, user)
    supabase_project.stop()
    with caplog.at_level(logging.ERROR, logger="analytics.auth.jwks"):
        response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=token)
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The keys that verify access tokens cannot be read right now; try again soon.",
        "code": "jwks_unavailable",
    }
    assert "WWW-Authenticate" not in response.headers
    assert any(
        r.name == "analytics.auth.jwks" and r.levelno == logging.ERROR for r in caplog.records
    )

    supabase_project.start()  # Same port, same address.
    clock.shift(COOLDOWN_SECONDS)
    assert api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=token).status_code == 200


@pytest.mark.django_db
def test_a_hanging_jwks_is_a_503_within_the_timeout(
    user: User,
    api_client: APIClient,
    project_keys: Keys,
    supabase_project: JWKSServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jwks, "TIMEOUT_SECONDS", 0.2)
    supabase_project.delay = 5
    started = time.monotonic()
    token = bearer(project_keys.es256, user)
    assert api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=token).status_code == 503
    assert time.monotonic() - started < 2


@pytest.mark.django_db
def test_random_unknown_kids_fetch_the_jwks_a_bounded_number_of_times(
    user: User, api_client: APIClient, project_keys: Keys, supabase_project: JWKSServer
) -> None:
    for _ in range(50):
        kid = str(uuid.uuid4())
        made_up = project_keys.es256.sign(claims(sub=str(user.id)), headers={"kid": kid})
        response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {made_up}")
        assert response.status_code == 401
        assert response.json()["code"] == "token_unknown_key"
    assert supabase_project.requests == 1
