"""``analytics.checks``: each configuration mistake has its own stable id."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from analytics.checks import (
    check_calls_index,
    check_heatmap_settings,
    check_rollup_source,
    check_token_verification,
)

SECRET = "a-legacy-jwt-secret-of-at-least-32-characters"
PROJECT = "https://abcdefghijklmnop.supabase.co"


def ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.id for message in check_token_verification() if message.id]


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
