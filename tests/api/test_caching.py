"""``analytics.api.caching``: answers shared through the cache, and the HTTP validators.

Redis itself (``redis_cache``; set ``TEST_REDIS_URL`` for another server) holds the
answers of most tests here: what is stored, under which keys, read back how; then
``Cache-Control``, the ``ETag``, a 304 and a failed ``If-Match``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.utils import timezone
from openapi_core import OpenAPI
from rest_framework.test import APIClient

from analytics.api.caching import heatmap_cache_key
from analytics.api.serializers import HeatmapQuerySerializer
from analytics.models import User
from tests.helpers import (
    HEATMAP_CSV_URL,
    HEATMAP_URL,
    MakeCall,
    assert_json_error,
    mint_token,
    run_demo,
    validate,
)

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def redis_cache(settings: Any) -> Iterator[Any]:
    """The real Redis server, through Django's own RedisCache backend."""
    if not _redis_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Redis at {REDIS_URL}")
        pytest.skip(f"needs Redis at {REDIS_URL}: start redis-server or set TEST_REDIS_URL")
    prefix = f"analytics-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60  # the app's default; the suite runs with 0
    try:
        yield caches["default"]
    finally:
        # Only this test's keys: other runs (tox envs) may share this Redis database at the
        # same time, and the cache's clear() is FLUSHDB.
        client = caches["default"]._cache.get_client(write=True)
        if keys := list(client.scan_iter(match=f"{prefix}*", count=1000)):
            client.delete(*keys)


# --- the shared cache -----------------------------------------------------------------------------


def test_answers_are_shared_through_redis_until_the_ttl(
    redis_cache: Any, auth_client: APIClient, make_call: MakeCall, settings: Any
) -> None:
    make_call()
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 1
    make_call()
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 1  # cached
    # Really in Redis, under this test's prefix (other runs may share the database).
    assert redis_cache._cache.get_client().keys(f"{redis_cache.key_prefix}*")
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 0
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 2


def test_cache_keys_keep_agencies_and_parameters_apart(
    redis_cache: Any, auth_client: APIClient, make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    make_call()
    make_call(agency_id=other_agency_id)
    make_call(agency_id=other_agency_id)
    other_user = User.objects.create(id=uuid.uuid4(), agency_id=other_agency_id)
    mine = auth_client.get(HEATMAP_URL).json()
    theirs = APIClient().get(
        HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(other_user.id))}"
    )
    assert mine["heatmap"][0]["total_calls"] == 1
    assert theirs.json()["heatmap"][0]["total_calls"] == 2
    assert auth_client.get(HEATMAP_URL, {"period": "7d"}).json()["period"] != mine["period"]


def heatmap_keys(cache: Any) -> list[bytes]:
    """This test's answer entries in Redis (the throttle's counts left out)."""
    keys = cache._cache.get_client().keys(f"{cache.key_prefix}*")
    return [key for key in keys if b"analytics:heatmap:" in key]


@pytest.mark.parametrize("metric", ["calls", "connected", "meetings_booked"])
def test_a_count_metric_shares_one_entry_whatever_min_calls(
    redis_cache: Any, auth_client: APIClient, make_call: MakeCall, metric: str
) -> None:
    """Count metrics ignore ``min_calls``, so it cannot split their cache."""
    make_call(joined_at=timezone.now(), analysis={"sdr": {"meeting_booked": True}})
    first = auth_client.get(HEATMAP_URL, {"metric": metric, "min_calls": 5})
    make_call(joined_at=timezone.now(), analysis={"sdr": {"meeting_booked": True}})
    second = auth_client.get(HEATMAP_URL, {"metric": metric, "min_calls": 50})
    assert second.json()["heatmap"][0]["total_calls"] == 1  # the first answer, from the cache
    assert second["ETag"] == first["ETag"]
    assert len(heatmap_keys(redis_cache)) == 1


def test_twenty_requests_differing_in_nothing_that_counts_share_one_entry(
    redis_cache: Any, auth_client: APIClient, make_call: MakeCall
) -> None:
    """The attack: 20 requests varying ``min_calls`` (a count ignores it) and parameters
    the endpoint does not take, each once a scan and an entry of its own."""
    make_call()
    for n in range(20):
        response = auth_client.get(HEATMAP_URL, {"min_calls": n + 1, f"junk{n}": "x", "cb": n})
        assert response.status_code == 200
    assert len(heatmap_keys(redis_cache)) == 1


@pytest.mark.parametrize("metric", ["connect_rate", "meeting_rate"])
def test_a_rate_metric_still_splits_on_min_calls(
    redis_cache: Any, auth_client: APIClient, make_call: MakeCall, metric: str
) -> None:
    make_call()
    auth_client.get(HEATMAP_URL, {"metric": metric, "min_calls": 5})
    make_call()
    second = auth_client.get(HEATMAP_URL, {"metric": metric, "min_calls": 50})
    assert second.json()["heatmap"][0]["total_calls"] == 2  # its own entry, read afresh
    assert len(heatmap_keys(redis_cache)) == 2


def test_the_cache_key_differs_between_clocks() -> None:
    """Every other parameter the same; the calling hours go in only with the lead's clock."""
    keys = {}
    for clock in ("tz", "lead"):
        params = HeatmapQuerySerializer(data={"clock": clock, "tz": "Europe/Paris"})
        assert params.is_valid()
        keys[clock] = heatmap_cache_key(agency_id=uuid.UUID(int=7), query=params.query)
    assert keys["tz"] != keys["lead"]


def test_cache_control_etag_and_not_modified(
    redis_cache: Any, auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    first = auth_client.get(HEATMAP_URL)
    assert first.status_code == 200
    assert set(first["Cache-Control"].split(", ")) == {"private", "max-age=60"}
    etag = first["ETag"]
    assert etag[0] == etag[-1] == '"'
    again = auth_client.get(HEATMAP_URL, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert "max-age=60" in again["Cache-Control"]
    other = auth_client.get(HEATMAP_URL, {"metric": "connected"}, HTTP_IF_NONE_MATCH=etag)
    assert other.status_code == 200
    assert other["ETag"] != etag


def test_the_etag_is_keyed_with_the_secret_and_the_agency(
    redis_cache: Any, auth_client: APIClient, other_agency_id: uuid.UUID, settings: Any
) -> None:
    """Two agencies with the same (empty) answer: same bytes, different ETags, neither a
    hash anyone could compute from a guessed body."""
    other_user = User.objects.create(id=uuid.uuid4(), agency_id=other_agency_id)
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(other_user.id))}")
    mine, theirs = auth_client.get(HEATMAP_URL), other_client.get(HEATMAP_URL)
    assert mine.content == theirs.content
    assert mine["ETag"] != theirs["ETag"]
    # Not the unkeyed hash of what the body is made from (the ETag before #13).
    guessed = json.dumps([mine["Content-Type"], mine.json()], sort_keys=True, default=str)
    assert hashlib.sha256(guessed.encode()).hexdigest()[:32] not in mine["ETag"]
    assert auth_client.get(HEATMAP_URL)["ETag"] == mine["ETag"]  # stable while bytes are
    settings.SECRET_KEY = "another-secret-key-of-the-host-project"
    assert auth_client.get(HEATMAP_URL)["ETag"] != mine["ETag"]


class PickleBomb:
    """Would run code on unpickling: what a writer to Redis could plant under pickles."""

    ran = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (setattr, (PickleBomb, "ran", True))


def test_the_json_serializer_stores_json_and_a_planted_pickle_runs_nothing(
    redis_cache: Any, auth_client: APIClient, make_call: MakeCall, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "OPTIONS": {"serializer": "analytics.api.caching.JSONSerializer"},
        }
    }
    cache = caches["default"]
    make_call()
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 1
    client = cache._cache.get_client(write=True)
    (key,) = [key for key in client.keys(f"{cache.key_prefix}*") if b"analytics:heatmap:" in key]
    entry = json.loads(client.get(key))  # JSON, readable by anyone, runnable by no one
    assert entry["cells"][0][2] == 1
    make_call()
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 1  # a hit

    client.set(key, pickle.dumps(PickleBomb()))
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 2  # unreadable
    assert PickleBomb.ran is False
    make_call()
    client.set(key, json.dumps({"cells": "forged"}))
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 3  # a miss
    # The throttle's counts (lists of floats) and incr() still work through it.
    assert cache.incr(cache.add("counter", 1) and "counter") == 2


def test_a_cache_entry_that_is_not_a_heatmap_is_a_miss(
    auth_client: APIClient, make_call: MakeCall, settings: Any, agency_id: uuid.UUID
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"forged-{uuid.uuid4()}",
        }
    }
    make_call()
    query = HeatmapQuerySerializer(data={})
    assert query.is_valid()
    caches["default"].set(heatmap_cache_key(agency_id=agency_id, query=query.query), [1, 2])
    assert auth_client.get(HEATMAP_URL).json()["heatmap"][0]["total_calls"] == 1


def test_the_demo_caches_json_in_redis() -> None:
    probe = (
        "import django; django.setup(); from django.core.cache import cache; "
        "print(type(cache._cache._serializer).__module__)"
    )
    assert run_demo("-c", probe, REDIS_URL=REDIS_URL).strip() == "analytics.api.caching"


@pytest.mark.usefixtures("dead_redis_cache")
def test_a_dead_cache_never_breaks_the_endpoint(
    settings: Any,
    auth_client: APIClient,
    make_call: MakeCall,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    make_call()
    with caplog.at_level(logging.WARNING, logger="analytics.api.caching"):
        response = auth_client.get(HEATMAP_URL)
    assert response.status_code == 200
    assert response.json()["heatmap"][0]["total_calls"] == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "analytics.api.caching"]
    assert "Heatmap cache read failed; answering from the database" in messages
    assert "Heatmap cache write failed" in messages


# --- If-Match: a failed precondition (#13: once a 412 with an empty HTML body) --------------


@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_a_failed_if_match_is_a_json_412_with_its_code(
    auth_client: APIClient, make_call: MakeCall, openapi_spec: OpenAPI, url: str
) -> None:
    make_call()
    response = auth_client.get(url, HTTP_IF_MATCH='"nope"')
    assert assert_json_error(response, 412) == {
        "detail": "The heatmap no longer matches the If-Match precondition.",
        "code": "precondition_failed",
    }
    validate(openapi_spec, response)


def test_an_if_match_that_holds_gets_the_answer(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    etag = auth_client.get(HEATMAP_URL)["ETag"]
    response = auth_client.get(HEATMAP_URL, HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["heatmap"][0]["total_calls"] == 1
