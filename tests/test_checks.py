"""``analytics.checks``: each configuration mistake has its own stable id."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from analytics.checks import (
    check_calls_index,
    check_heatmap_settings,
    check_live_sessions,
    check_rollup_source,
    check_token_verification,
)

SECRET = "a-legacy-jwt-secret-of-at-least-32-characters"
PROJECT = "https://abcdefghijklmnop.supabase.co"


def ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.id for message in check_token_verification() if message.id]


def heatmap_ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.id for message in check_heatmap_settings() if message.id]


def test_registered_with_django() -> None:
    registered = checks.registry.registry.get_checks()
    assert check_token_verification in registered
    assert checks.Tags.security in check_token_verification.tags
    assert check_heatmap_settings in registered
    # Only ``check --database`` and ``migrate`` run a database check.
    assert check_calls_index in registered
    assert checks.Tags.database in check_calls_index.tags
    assert check_rollup_source in registered
    assert checks.Tags.database in check_rollup_source.tags
    assert check_live_sessions in registered
    assert checks.Tags.database in check_live_sessions.tags


@pytest.mark.parametrize("source", ["auto", "raw", "rollup"])
def test_every_heatmap_source_is_accepted(settings: Any, source: str) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = source
    assert check_heatmap_settings() == []


@pytest.mark.parametrize("source", ["Rollup", "", None, "calls"])
def test_an_unknown_heatmap_source_is_an_error(settings: Any, source: Any) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = source
    assert [message.id for message in check_heatmap_settings()] == ["analytics.E016"]


@pytest.mark.django_db
def test_the_rollup_source_without_a_rollup_is_an_error(settings: Any) -> None:
    """On SQLite there is never one; on PostgreSQL none is installed in the test database."""
    settings.ANALYTICS_HEATMAP_SOURCE = "rollup"
    [error] = check_rollup_source(databases=["default"])
    assert error.id == "analytics.E017"
    assert check_rollup_source(databases=None) == []  # only ``check --database`` runs it
    settings.ANALYTICS_HEATMAP_SOURCE = "auto"
    assert check_rollup_source(databases=["default"]) == []


@pytest.mark.django_db
def test_live_sessions_without_a_sessions_table_is_an_error(settings: Any) -> None:
    """On SQLite there is never one; on PostgreSQL the test database has none of its own.

    With the table there (and unreadable): tests/test_live_session.py.
    """
    settings.ANALYTICS_REQUIRE_LIVE_SESSION = True
    [error] = check_live_sessions(databases=["default"])
    assert error.id == "analytics.E025"
    assert "ANALYTICS_REQUIRE_LIVE_SESSION" in (error.hint or "")
    assert check_live_sessions(databases=None) == []  # only ``check --database`` runs it
    settings.ANALYTICS_REQUIRE_LIVE_SESSION = False
    assert check_live_sessions(databases=["default"]) == []


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": "600/min"}, []),
        ({"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": None}, []),
        ({"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": ""}, []),
        ({"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": "600/fortnight"}, ["analytics.E021"]),
        ({"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": "0/min"}, ["analytics.E021"]),
        ({"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": 600}, ["analytics.E021"]),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": 1}, []),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": None}, []),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": 0}, ["analytics.E022"]),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": -1}, ["analytics.E022"]),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": "2"}, ["analytics.E022"]),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": True}, ["analytics.E022"]),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": 2.0}, ["analytics.E022"]),
        ({"ANALYTICS_HEATMAP_SCAN_WAIT_SECONDS": 0.5}, []),
        ({"ANALYTICS_HEATMAP_SCAN_WAIT_SECONDS": 0}, ["analytics.E023"]),
        ({"ANALYTICS_HEATMAP_SCAN_WAIT_SECONDS": -1}, ["analytics.E023"]),
        ({"ANALYTICS_HEATMAP_SCAN_WAIT_SECONDS": "5"}, ["analytics.E023"]),
        ({"ANALYTICS_HEATMAP_SCAN_WAIT_SECONDS": None}, ["analytics.E023"]),
        ({"ANALYTICS_ADMIN_STATEMENT_TIMEOUT": 2}, []),
        ({"ANALYTICS_ADMIN_STATEMENT_TIMEOUT": 0}, ["analytics.E024"]),
        ({"ANALYTICS_ADMIN_STATEMENT_TIMEOUT": float("inf")}, ["analytics.E024"]),
        ({"ANALYTICS_ADMIN_STATEMENT_TIMEOUT": True}, ["analytics.E024"]),
    ],
    ids=repr,
)
def test_heatmap_mistakes(settings: dict[str, Any], expected: list[str]) -> None:
    assert heatmap_ids(**settings) == expected


@pytest.mark.parametrize(
    "settings",
    [
        {"SUPABASE_JWT_SECRET": SECRET},
        {"SUPABASE_JWT_SECRET": None, "SUPABASE_URL": PROJECT},
        {"SUPABASE_JWT_SECRET": None, "SUPABASE_JWKS_URL": f"{PROJECT}/custom/jwks.json"},
        {"SUPABASE_JWT_SECRET": SECRET, "SUPABASE_URL": PROJECT},
        {"SUPABASE_URL": "http://127.0.0.1:54321", "DEBUG": True},
        {
            "SUPABASE_URL": PROJECT,
            "ANALYTICS_JWKS_CACHE_SECONDS": 60,
            "ANALYTICS_JWKS_TIMEOUT_SECONDS": 2.5,
            "ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS": 0,
            "ANALYTICS_JWT_LEEWAY_SECONDS": 0,
        },
    ],
    ids=[
        "legacy secret",
        "project URL",
        "JWKS URL",
        "both",
        "local http in DEBUG",
        "every knob set",
    ],
)
def test_sound_configurations_pass(settings: dict[str, Any]) -> None:
    assert ids(**settings) == []


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"SUPABASE_JWT_SECRET": None}, ["analytics.E001"]),
        (
            {"SUPABASE_JWT_SECRET": "", "SUPABASE_URL": "", "SUPABASE_JWKS_URL": None},
            ["analytics.E001"],
        ),
        ({"SUPABASE_JWT_SECRET": b"bytes-are-not-a-secret-string-at-all!!"}, ["analytics.E002"]),
        ({"SUPABASE_JWT_SECRET": "short"}, ["analytics.E005"]),
        ({"SUPABASE_JWT_SECRET": "x" * 31}, ["analytics.E005"]),
        ({"SUPABASE_JWT_SECRET": "x" * 32}, []),
        ({"ANALYTICS_JWT_AUDIENCE": ""}, ["analytics.E003"]),
        ({"ANALYTICS_JWT_AUDIENCE": ["authenticated"]}, ["analytics.E003"]),
        ({"ANALYTICS_JWT_LEEWAY_SECONDS": -1}, ["analytics.E004"]),
        ({"ANALYTICS_JWT_LEEWAY_SECONDS": "30"}, ["analytics.E004"]),
        ({"SUPABASE_URL": "abcdefghijklmnop.supabase.co"}, ["analytics.E006"]),
        ({"SUPABASE_JWKS_URL": "file:///etc/jwks.json"}, ["analytics.E006"]),
        ({"SUPABASE_URL": 42}, ["analytics.E006"]),
        ({"SUPABASE_URL": "http://supabase.internal:8000"}, ["analytics.W001"]),
        (
            {"SUPABASE_URL": PROJECT, "SUPABASE_JWKS_URL": "http://jwks.internal"},
            ["analytics.W001"],
        ),
        ({"SUPABASE_URL": "http://supabase.internal:8000", "DEBUG": True}, []),
        ({"ANALYTICS_JWKS_CACHE_SECONDS": 3600}, ["analytics.E007"]),
        ({"ANALYTICS_JWKS_CACHE_SECONDS": 0}, ["analytics.E007"]),
        ({"ANALYTICS_JWKS_CACHE_SECONDS": "600"}, ["analytics.E007"]),
        ({"ANALYTICS_JWKS_CACHE_SECONDS": 600}, []),
        ({"ANALYTICS_JWKS_TIMEOUT_SECONDS": 0}, ["analytics.E008"]),
        ({"ANALYTICS_JWKS_TIMEOUT_SECONDS": None}, ["analytics.E008"]),
        ({"ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS": -1}, ["analytics.E009"]),
        ({"ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS": float("inf")}, ["analytics.E009"]),
        (
            {"SUPABASE_JWT_SECRET": None, "ANALYTICS_JWKS_TIMEOUT_SECONDS": -5},
            ["analytics.E001", "analytics.E008"],
        ),
        ({"ANALYTICS_JWT_MAX_LIFETIME_SECONDS": 3600}, []),
        ({"ANALYTICS_JWT_MAX_LIFETIME_SECONDS": 0}, ["analytics.E018"]),
        ({"ANALYTICS_JWT_MAX_LIFETIME_SECONDS": -1}, ["analytics.E018"]),
        ({"ANALYTICS_JWT_MAX_LIFETIME_SECONDS": "604800"}, ["analytics.E018"]),
        ({"ANALYTICS_JWT_MAX_LIFETIME_SECONDS": None}, ["analytics.E018"]),
        ({"ANALYTICS_JWT_MAX_LIFETIME_SECONDS": float("inf")}, ["analytics.E018"]),
        ({"ANALYTICS_ALLOW_ANONYMOUS_USERS": True}, []),
        ({"ANALYTICS_ALLOW_ANONYMOUS_USERS": "False"}, ["analytics.E019"]),
        ({"ANALYTICS_ALLOW_ANONYMOUS_USERS": 0}, ["analytics.E019"]),
        ({"ANALYTICS_ALLOW_ANONYMOUS_USERS": None}, ["analytics.E019"]),
        ({"ANALYTICS_REQUIRE_LIVE_SESSION": True}, []),
        ({"ANALYTICS_REQUIRE_LIVE_SESSION": "yes"}, ["analytics.E020"]),
        ({"ANALYTICS_REQUIRE_LIVE_SESSION": 1}, ["analytics.E020"]),
        (
            {"ANALYTICS_ALLOW_ANONYMOUS_USERS": "no", "ANALYTICS_REQUIRE_LIVE_SESSION": "no"},
            ["analytics.E019", "analytics.E020"],
        ),
    ],
    ids=repr,
)
def test_mistakes(settings: dict[str, Any], expected: list[str]) -> None:
    assert ids(**settings) == expected


def test_the_test_settings_pass() -> None:
    assert ids() == []


def test_messages_never_show_the_secret() -> None:
    with override_settings(SUPABASE_JWT_SECRET="too-short-secret"):
        (message,) = check_token_verification()
    assert message.level == checks.ERROR
    assert "too-short-secret" not in str(message)


REDIS = "django.core.cache.backends.redis.RedisCache"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ["analytics.W004"]),
        ({"socket_timeout": 0.25}, ["analytics.W004"]),
        ({"serializer": "analytics.cache_serializer.JSONSerializer"}, []),
    ],
)
def test_w004_a_redis_cache_that_pickles(
    settings: Any, options: dict[str, Any], expected: list[str]
) -> None:
    """A writer to a pickling Redis could run code in the app: the check says so."""
    settings.CACHES = {
        "default": {"BACKEND": REDIS, "LOCATION": "redis://127.0.0.1:6379/0", "OPTIONS": options}
    }
    assert [m.id for m in check_heatmap_settings()] == expected


def test_w004_is_quiet_when_nothing_uses_the_cache(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": REDIS, "LOCATION": "redis://127.0.0.1:6379/0"}}
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 0
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = None
    settings.ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE = None
    assert check_heatmap_settings() == []
