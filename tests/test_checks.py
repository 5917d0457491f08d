"""``analytics.checks``: each kind of configuration mistake has its own stable id.

Every id the checks still give has a test here; a wrong value (E002) or a missing alias
(E011) is asserted with the setting its message names.
"""

from __future__ import annotations

import io
import uuid
from types import ModuleType
from typing import Any

import pytest
from corsheaders.defaults import default_headers
from django.contrib import admin
from django.core import checks
from django.core.management import call_command
from django.db import connection
from django.test import modify_settings, override_settings
from django.urls import include, path, re_path

from analytics import urls as analytics_urls
from analytics.api.throttling import is_valid_rate
from analytics.api.views import CallHeatmapApi
from analytics.checks import (
    check_calls_index,
    check_cors,
    check_heatmap_settings,
    check_lead_zone_map,
    check_live_sessions,
    check_removed_settings,
    check_rollup_drift,
    check_rollup_source,
    check_token_verification,
    lead_zone_warnings,
)
from analytics.conf import REMOVED_SETTINGS
from analytics.heatmap.lead_clock import shipped_map
from analytics.models import LeadZoneMap
from analytics.rollup.state import forget
from tests import settings as test_settings
from tests.helpers import Sessions, documented_cors_block, sql, table_away

#: The ids whose message names the setting it is about.
NAMING = {"analytics.E002", "analytics.E011"}
SECRET = "a-legacy-jwt-secret-of-at-least-32-characters"
PROJECT = "https://abcdefghijklmnop.supabase.co"


def found(messages: list[checks.CheckMessage]) -> list[str]:
    """Each message's id; one id covers every setting's wrong value (and every missing
    alias), so for those the setting it names, which starts the message, too."""
    return [
        f"{message.id} {message.msg.split()[0]}" if message.id in NAMING else str(message.id)
        for message in messages
        if message.id
    ]


def ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return found(check_token_verification())


def heatmap_ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return found(check_heatmap_settings())


def test_registered_with_django() -> None:
    registered = checks.registry.registry.get_checks()
    assert check_token_verification in registered
    assert checks.Tags.security in check_token_verification.tags
    assert check_heatmap_settings in registered
    assert check_removed_settings in registered
    assert check_cors in registered
    # Only ``check --database`` and ``migrate`` run a database check.
    assert check_calls_index in registered
    assert checks.Tags.database in check_calls_index.tags
    assert check_rollup_source in registered
    assert checks.Tags.database in check_rollup_source.tags
    assert check_rollup_drift in registered
    assert checks.Tags.database in check_rollup_drift.tags
    assert check_live_sessions in registered
    assert checks.Tags.database in check_live_sessions.tags
    assert check_lead_zone_map in registered
    assert checks.Tags.database in check_lead_zone_map.tags


@pytest.mark.parametrize("source", ["auto", "raw", "rollup"])
def test_every_heatmap_source_is_accepted(settings: Any, source: str) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = source
    assert check_heatmap_settings() == []


@pytest.mark.parametrize("source", ["Rollup", "", None, "calls"])
def test_an_unknown_heatmap_source_is_an_error(settings: Any, source: Any) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = source
    assert found(check_heatmap_settings()) == ["analytics.E002 ANALYTICS_HEATMAP_SOURCE"]


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

    With the table there: ``test_e025_*`` below.
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
        (
            {"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": "600/fortnight"},
            ["analytics.E002 ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE"],
        ),
        (
            {"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": "0/min"},
            ["analytics.E002 ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE"],
        ),
        (
            {"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE": 600},
            ["analytics.E002 ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE"],
        ),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": 1}, []),
        ({"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": None}, []),
        (
            {"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": 0},
            ["analytics.E002 ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS"],
        ),
        (
            {"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": -1},
            ["analytics.E002 ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS"],
        ),
        (
            {"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": "2"},
            ["analytics.E002 ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS"],
        ),
        (
            {"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": True},
            ["analytics.E002 ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS"],
        ),
        (
            {"ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS": 2.0},
            ["analytics.E002 ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS"],
        ),
        # The lead-local calling hours: a pair of whole hours 0 <= start < end <= 24, or None.
        ({"ANALYTICS_CALLING_HOURS": (8, 21)}, []),
        ({"ANALYTICS_CALLING_HOURS": [9, 17]}, []),
        ({"ANALYTICS_CALLING_HOURS": (0, 24)}, []),
        ({"ANALYTICS_CALLING_HOURS": None}, []),
        ({"ANALYTICS_CALLING_HOURS": (8,)}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": (8, 12, 21)}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": (21, 8)}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": (8, 8)}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": (0, 25)}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": (-1, 21)}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": ("8", "21")}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": (True, 21)}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": (8.0, 21)}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": 8}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        ({"ANALYTICS_CALLING_HOURS": "8-21"}, ["analytics.E002 ANALYTICS_CALLING_HOURS"]),
        # The zone the admin's heatmap page starts in: an IANA name the endpoint takes, or None.
        ({"ANALYTICS_ADMIN_TIME_ZONE": "America/New_York"}, []),
        ({"ANALYTICS_ADMIN_TIME_ZONE": "UTC"}, []),
        ({"ANALYTICS_ADMIN_TIME_ZONE": None}, []),
        ({"ANALYTICS_ADMIN_TIME_ZONE": "Mars/Base"}, ["analytics.E002 ANALYTICS_ADMIN_TIME_ZONE"]),
        ({"ANALYTICS_ADMIN_TIME_ZONE": "+05:30"}, ["analytics.E002 ANALYTICS_ADMIN_TIME_ZONE"]),
        ({"ANALYTICS_ADMIN_TIME_ZONE": "localtime"}, ["analytics.E002 ANALYTICS_ADMIN_TIME_ZONE"]),
        ({"ANALYTICS_ADMIN_TIME_ZONE": 3}, ["analytics.E002 ANALYTICS_ADMIN_TIME_ZONE"]),
        # The replica's lag the heatmap tolerates: seconds, 0 or more, or None (not asked).
        ({"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": 30.0}, []),
        ({"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": 5}, []),
        ({"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": 0}, []),
        ({"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": None}, []),
        (
            {"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": -1},
            ["analytics.E002 ANALYTICS_HEATMAP_REPLICA_MAX_LAG"],
        ),
        (
            {"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": "30"},
            ["analytics.E002 ANALYTICS_HEATMAP_REPLICA_MAX_LAG"],
        ),
        (
            {"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": True},
            ["analytics.E002 ANALYTICS_HEATMAP_REPLICA_MAX_LAG"],
        ),
        (
            {"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": float("inf")},
            ["analytics.E002 ANALYTICS_HEATMAP_REPLICA_MAX_LAG"],
        ),
        (
            {"ANALYTICS_HEATMAP_REPLICA_MAX_LAG": float("nan")},
            ["analytics.E002 ANALYTICS_HEATMAP_REPLICA_MAX_LAG"],
        ),
        # Server-Timing on heatmap answers: a bool, never a truthy string.
        ({"ANALYTICS_SERVER_TIMING": True}, []),
        ({"ANALYTICS_SERVER_TIMING": False}, []),
        ({"ANALYTICS_SERVER_TIMING": "False"}, ["analytics.E002 ANALYTICS_SERVER_TIMING"]),
        ({"ANALYTICS_SERVER_TIMING": 1}, ["analytics.E002 ANALYTICS_SERVER_TIMING"]),
        ({"ANALYTICS_SERVER_TIMING": None}, ["analytics.E002 ANALYTICS_SERVER_TIMING"]),
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
            "ANALYTICS_JWT_LEEWAY_SECONDS": 0,
            "ANALYTICS_ALLOW_ANONYMOUS_USERS": True,
            "ANALYTICS_REQUIRE_LIVE_SESSION": True,
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
        (
            {"SUPABASE_JWT_SECRET": b"bytes-are-not-a-secret-string-at-all!!"},
            ["analytics.E002 SUPABASE_JWT_SECRET"],
        ),
        ({"SUPABASE_JWT_SECRET": "short"}, ["analytics.E002 SUPABASE_JWT_SECRET"]),
        ({"SUPABASE_JWT_SECRET": "x" * 31}, ["analytics.E002 SUPABASE_JWT_SECRET"]),
        ({"SUPABASE_JWT_SECRET": "x" * 32}, []),
        ({"ANALYTICS_JWT_LEEWAY_SECONDS": -1}, ["analytics.E002 ANALYTICS_JWT_LEEWAY_SECONDS"]),
        ({"ANALYTICS_JWT_LEEWAY_SECONDS": "30"}, ["analytics.E002 ANALYTICS_JWT_LEEWAY_SECONDS"]),
        ({"SUPABASE_URL": "abcdefghijklmnop.supabase.co"}, ["analytics.E002 SUPABASE_URL"]),
        ({"SUPABASE_JWKS_URL": "file:///etc/jwks.json"}, ["analytics.E002 SUPABASE_JWKS_URL"]),
        ({"SUPABASE_URL": 42}, ["analytics.E002 SUPABASE_URL"]),
        ({"SUPABASE_URL": "http://supabase.internal:8000"}, ["analytics.W001"]),
        (
            {"SUPABASE_URL": PROJECT, "SUPABASE_JWKS_URL": "http://jwks.internal"},
            ["analytics.W001"],
        ),
        ({"SUPABASE_URL": "http://supabase.internal:8000", "DEBUG": True}, []),
        (
            {"SUPABASE_JWT_SECRET": None, "ANALYTICS_JWT_LEEWAY_SECONDS": -5},
            ["analytics.E001", "analytics.E002 ANALYTICS_JWT_LEEWAY_SECONDS"],
        ),
        ({"ANALYTICS_ALLOW_ANONYMOUS_USERS": True}, []),
        (
            {"ANALYTICS_ALLOW_ANONYMOUS_USERS": "False"},
            ["analytics.E002 ANALYTICS_ALLOW_ANONYMOUS_USERS"],
        ),
        (
            {"ANALYTICS_ALLOW_ANONYMOUS_USERS": 0},
            ["analytics.E002 ANALYTICS_ALLOW_ANONYMOUS_USERS"],
        ),
        (
            {"ANALYTICS_ALLOW_ANONYMOUS_USERS": None},
            ["analytics.E002 ANALYTICS_ALLOW_ANONYMOUS_USERS"],
        ),
        ({"ANALYTICS_REQUIRE_LIVE_SESSION": True}, []),
        (
            {"ANALYTICS_REQUIRE_LIVE_SESSION": "yes"},
            ["analytics.E002 ANALYTICS_REQUIRE_LIVE_SESSION"],
        ),
        ({"ANALYTICS_REQUIRE_LIVE_SESSION": 1}, ["analytics.E002 ANALYTICS_REQUIRE_LIVE_SESSION"]),
        (
            {"ANALYTICS_ALLOW_ANONYMOUS_USERS": "no", "ANALYTICS_REQUIRE_LIVE_SESSION": "no"},
            [
                "analytics.E002 ANALYTICS_ALLOW_ANONYMOUS_USERS",
                "analytics.E002 ANALYTICS_REQUIRE_LIVE_SESSION",
            ],
        ),
    ],
    ids=repr,
)
def test_mistakes(settings: dict[str, Any], expected: list[str]) -> None:
    assert ids(**settings) == expected


def test_the_test_settings_pass() -> None:
    assert ids() == []


def test_a_wrong_value_names_the_setting_and_the_value() -> None:
    with override_settings(ANALYTICS_CALLING_HOURS=(21, 8)):
        [error] = check_heatmap_settings()
    assert error.id == "analytics.E002"
    assert "ANALYTICS_CALLING_HOURS is (21, 8)" in error.msg
    assert "wrap" in (error.hint or "")


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
        ({"serializer": "analytics.api.caching.JSONSerializer"}, []),
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


# --- the throttles' rates (E002) and their cache (E011) ------------------------------------


@pytest.mark.parametrize(
    "rate", [None, "", "120/min", "1/s", "5/sec", "10/second", "7/m", "60/minute", "9/hour", "1/d"]
)
def test_sound_rates(settings: Any, rate: Any) -> None:
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = rate
    assert is_valid_rate(rate)
    assert check_heatmap_settings() == []


@pytest.mark.parametrize(
    "rate",
    [
        *["120", "120/", "/min", "0/min", "-1/min", "1.5/min", "ten/min", "10/fortnight"],
        *["10/mins", " 10/min", "10 / min", "10/min/2", 120, ["120/min"], True],
    ],
)
def test_malformed_rates_are_e002(settings: Any, rate: Any) -> None:
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = rate
    [error] = check_heatmap_settings()
    assert found([error]) == ["analytics.E002 ANALYTICS_HEATMAP_THROTTLE_RATE"]
    assert repr(rate) in error.msg


def test_the_throttles_and_the_scan_cap_need_their_cache_even_with_caching_off(
    settings: Any,
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 0
    settings.ANALYTICS_HEATMAP_CACHE = "nocache"
    missing_cache = ["analytics.E011 ANALYTICS_HEATMAP_CACHE"]
    assert found(check_heatmap_settings()) == missing_cache
    settings.ANALYTICS_HEATMAP_THROTTLE_RATE = None
    assert found(check_heatmap_settings()) == missing_cache  # the agency's
    settings.ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE = None
    assert found(check_heatmap_settings()) == missing_cache  # the scan slots'
    settings.ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS = None
    assert check_heatmap_settings() == []


# --- where the heatmap reads and caches, and for how long (E011, E002) --------------------


def test_settings_checks(settings: Any) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    assert check_heatmap_settings() == []
    settings.ANALYTICS_HEATMAP_DATABASE = "nowhere"
    settings.ANALYTICS_HEATMAP_CACHE = "nocache"
    settings.ANALYTICS_HEATMAP_STATEMENT_TIMEOUT = 0
    assert found(check_heatmap_settings()) == [
        "analytics.E011 ANALYTICS_HEATMAP_DATABASE",
        "analytics.E011 ANALYTICS_HEATMAP_CACHE",
        "analytics.E002 ANALYTICS_HEATMAP_STATEMENT_TIMEOUT",
    ]
    settings.ANALYTICS_HEATMAP_CACHE_TTL = -1
    assert "analytics.E002 ANALYTICS_HEATMAP_CACHE_TTL" in found(check_heatmap_settings())


# --- CORS that lets the SPA revalidate (W009) ----------------------------------------------
# tests/settings.py has docs/install.md's block: ETag exposed, If-None-Match and If-Match
# allowed, on /api/. Each test changes one thing of it.


def cors_warnings(**settings: Any) -> list[checks.CheckMessage]:
    with override_settings(**settings):
        return check_cors()


def urlconf(*patterns: Any) -> ModuleType:
    """A host's URLconf module, which ``ROOT_URLCONF`` may be."""
    module = ModuleType("host_urls")
    module.urlpatterns = list(patterns)  # type: ignore[attr-defined]
    return module


def test_w009_is_quiet_with_the_documented_block() -> None:
    """docs/install.md's block itself, not tests/settings.py's copy of it."""
    with override_settings(**documented_cors_block()):
        assert check_cors() == []


@pytest.mark.parametrize("exposed", [["etag"], ["ETAG", "Content-Disposition"], ["*"]])
def test_w009_reads_exposed_names_in_any_case_and_the_wildcard(exposed: list[str]) -> None:
    assert cors_warnings(CORS_EXPOSE_HEADERS=exposed) == []


@pytest.mark.parametrize("exposed", [[], ["Content-Disposition", "Retry-After"], "ETag"])
def test_w009_an_etag_the_spa_cannot_read(exposed: Any) -> None:
    [warning] = cors_warnings(CORS_EXPOSE_HEADERS=exposed)
    assert warning.id == "analytics.W009"
    assert warning.level == checks.WARNING
    assert "hides ETag" in warning.msg
    assert "/api/dashboard-heatmap" in warning.msg
    assert warning.hint is not None
    assert warning.hint.startswith('Add "ETag" to CORS_EXPOSE_HEADERS')


def test_w009_the_wildcard_does_not_expose_etag_to_requests_with_credentials() -> None:
    [warning] = cors_warnings(CORS_EXPOSE_HEADERS=["*"], CORS_ALLOW_CREDENTIALS=True)
    assert "CORS_EXPOSE_HEADERS" in (warning.hint or "")


@pytest.mark.parametrize(
    ("allowed", "refused"),
    [
        (default_headers, "If-None-Match and If-Match"),
        ((*default_headers, "if-match"), "If-None-Match"),
        ((*default_headers, "If-None-Match"), "If-Match"),
    ],
)
def test_w009_validators_refused_at_preflight(allowed: tuple[str, ...], refused: str) -> None:
    [warning] = cors_warnings(CORS_ALLOW_HEADERS=allowed)
    assert warning.id == "analytics.W009"
    assert f"refuses {refused} at preflight" in warning.msg
    assert warning.hint == (
        "Set CORS_ALLOW_HEADERS = (*corsheaders.defaults.default_headers, "
        '"if-none-match", "if-match") (docs/install.md).'
    )


def test_w009_without_any_cors_settings_names_both_settings(settings: Any) -> None:
    for name in ("CORS_URLS_REGEX", "CORS_EXPOSE_HEADERS", "CORS_ALLOW_HEADERS"):
        delattr(settings, name)
    assert [w.hint.split()[1] for w in check_cors() if w.hint] == [
        '"ETag"',
        "CORS_ALLOW_HEADERS",
    ]


def test_w009_is_quiet_where_cors_is_off_for_the_endpoint() -> None:
    assert cors_warnings(CORS_URLS_REGEX=r"^/spa-api/", CORS_EXPOSE_HEADERS=[]) == []


def test_w009_is_quiet_without_django_cors_headers() -> None:
    with modify_settings(INSTALLED_APPS={"remove": "corsheaders"}):
        assert cors_warnings(CORS_EXPOSE_HEADERS=[]) == []


@pytest.mark.parametrize(
    ("mounted", "path"),
    [
        (path("v2/", include(("analytics.urls", "analytics"), namespace="insights")), "/v2/"),
        (re_path(r"^v2/(?:x/)?", include("analytics.urls")), "/v2/"),
        (path("v2/", include(analytics_urls.urlpatterns)), "/v2/"),
        (path("v2/heat", CallHeatmapApi.as_view()), "/v2/heat"),
    ],
)
def test_w009_finds_the_endpoint_wherever_the_host_mounts_it(mounted: Any, path: str) -> None:
    """Under any prefix or namespace, or as the view alone; ``CORS_URLS_REGEX`` decides."""
    host = urlconf(mounted)
    on_api_only = cors_warnings(ROOT_URLCONF=host, CORS_EXPOSE_HEADERS=[])
    assert on_api_only == []
    [warning] = cors_warnings(ROOT_URLCONF=host, CORS_URLS_REGEX=r"^/v2/", CORS_EXPOSE_HEADERS=[])
    assert f"({path}" in warning.msg


def test_w009_is_quiet_when_the_host_does_not_mount_the_endpoint() -> None:
    host = urlconf(path("admin/", admin.site.urls))
    assert cors_warnings(ROOT_URLCONF=host, CORS_URLS_REGEX=r"^.*$", CORS_EXPOSE_HEADERS=[]) == []


def test_the_test_settings_have_the_documented_cors_block_as_it_is() -> None:
    """The W009 tests above, and the CORS tests of tests/api/test_views.py, change one thing
    of tests/settings.py's CORS block: it must be the one docs/install.md tells a host to copy."""
    ours = {name: value for name, value in vars(test_settings).items() if name.startswith("CORS_")}
    assert ours == documented_cors_block()


# --- settings the app no longer reads (W005) -----------------------------------------------


def test_the_test_settings_set_no_removed_setting() -> None:
    assert check_removed_settings() == []


@pytest.mark.parametrize("name", sorted(REMOVED_SETTINGS))
def test_w005_a_removed_setting_still_set_is_one_warning_naming_it(name: str) -> None:
    with override_settings(**{name: "anything"}):
        [warning] = check_removed_settings()
    assert warning.id == "analytics.W005"
    assert warning.level == checks.WARNING
    assert warning.msg == f"{name} is set, but the app no longer reads it."
    assert REMOVED_SETTINGS[name] in (warning.hint or "")


def test_w005_names_each_removed_setting_once() -> None:
    with override_settings(ANALYTICS_JWT_AUDIENCE="x", ANALYTICS_JWKS_CACHE_SECONDS=60):
        warnings = check_removed_settings()
    assert [w.id for w in warnings] == ["analytics.W005"] * 2
    assert [w.msg.split()[0] for w in warnings] == [
        "ANALYTICS_JWT_AUDIENCE",
        "ANALYTICS_JWKS_CACHE_SECONDS",
    ]


# --- database checks: the calls index (W002, W003), the sessions table (E025) --------------


@pytest.mark.django_db
def test_index_check_is_quiet_when_the_index_is_there() -> None:
    assert check_calls_index(databases=["default"]) == []
    assert check_calls_index(databases=None) == []


@pytest.mark.django_db
@pytest.mark.usefixtures("on_postgresql")
def test_w002_the_index_check_warns_and_names_the_statement_to_run() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX idx_calls_agency_created")
    [warning] = check_calls_index(databases=["default"])
    assert warning.id == "analytics.W002"
    assert (
        "CREATE INDEX CONCURRENTLY idx_calls_agency_created ON calls (agency_id, created_at)"
        in (warning.hint or "")
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("on_postgresql")
def test_w003_without_a_calls_table() -> None:
    with table_away("calls"):
        [warning] = check_calls_index(databases=["default"])
    assert warning.id == "analytics.W003"
    assert "'calls'" in warning.msg


@pytest.mark.django_db
def test_e025_passes_with_a_readable_sessions_table(auth_sessions: Sessions) -> None:
    with override_settings(ANALYTICS_REQUIRE_LIVE_SESSION=True):
        assert check_live_sessions(databases=["default"]) == []


@pytest.mark.django_db
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


# --- database checks: the lead's time-zone map (W006) ------------------------------------


@pytest.mark.django_db
def test_w006_is_quiet_when_the_shipped_map_is_loaded() -> None:
    assert check_lead_zone_map(databases=["default"]) == []
    assert check_lead_zone_map(databases=None) == []  # only ``check --database`` runs it


@pytest.mark.django_db
@pytest.mark.parametrize("loaded", ["8.13.0", None])
def test_w006_another_map_or_none_is_a_warning_naming_both(loaded: str | None) -> None:
    shipped = shipped_map().version
    if loaded is None:
        LeadZoneMap.objects.all().delete()
    else:
        LeadZoneMap.objects.update(version=loaded)
    [warning] = check_lead_zone_map(databases=["default"])
    assert warning.id == "analytics.W006"
    assert warning.level == checks.WARNING
    found = "no map" if loaded is None else f"the map of phonenumbers {loaded}"
    assert found in warning.msg
    assert f"ships the map of phonenumbers {shipped}" in warning.msg
    assert "migrate" in (warning.hint or "")


# --- database checks: zones of the map a zone database lacks (W007) -----------------------


@pytest.mark.django_db
def test_w007_names_the_maps_zones_pythons_zone_database_lacks() -> None:
    groups = [("America/New_York",), ("Mars/Olympus_Mons", "Europe/London")]
    # On PostgreSQL the server lacks it too: a second warning, checked below.
    [warning] = [w for w in lead_zone_warnings("default", groups) if w.msg.startswith("Python")]
    assert warning.id == "analytics.W007"
    assert "Python's zone database lacks 1 zone(s)" in warning.msg
    assert "Mars/Olympus_Mons" in warning.msg
    assert "never placed" in (warning.hint or "")


@pytest.mark.django_db
def test_w007_is_quiet_for_the_shipped_map_on_this_machine() -> None:
    assert lead_zone_warnings("default", shipped_map().groups) == []


@pytest.mark.django_db
def test_w007_names_zones_the_postgresql_server_lacks(on_postgresql: None) -> None:
    # A name Python's zone database has and the server's may not: fake it the other way,
    # with a name neither has, and read which side the warning blames.
    warnings = lead_zone_warnings("default", [("Atlantis/Capital",)])
    assert sorted(w.msg.split(" lacks ")[0] for w in warnings) == [
        "Python's zone database",
        "the 'default' server",
    ]


# --- database checks: the rollup's map (W008) ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_w008_a_rollup_counting_by_another_map_is_a_warning(rollup: None) -> None:
    assert check_lead_zone_map(databases=["default"]) == []
    sql("UPDATE analytics_heatmap.rollup_state SET map_version = '8.13.0'")
    forget()
    [warning] = check_lead_zone_map(databases=["default"])
    assert warning.id == "analytics.W008"
    assert "phonenumbers 8.13.0" in warning.msg
    assert "heatmap_rollup install" in (warning.hint or "")


# --- database checks: calls changed unseen by the rollup (W010) ----------------------------


@pytest.mark.django_db(transaction=True)
def test_w010_a_rewrite_of_calls_the_rollup_did_not_see_is_a_warning_until_a_repair(
    rollup: None,
) -> None:
    assert check_rollup_drift(databases=["default"]) == []
    sql("ALTER TABLE calls ALTER COLUMN status TYPE call_status USING status::text::call_status")
    assert check_rollup_drift(databases=None) == []  # only ``check --database`` runs it
    [warning] = check_rollup_drift(databases=["default"])
    assert warning.id == "analytics.W010"
    assert "may be out of date" in warning.msg
    assert "heatmap_rollup verify --repair" in (warning.hint or "")
    ran = checks.run_checks(databases=["default"], tags=[checks.Tags.database])
    assert "analytics.W010" in [message.id for message in ran]
    call_command("heatmap_rollup", "verify", "--repair", stdout=io.StringIO())
    assert check_rollup_drift(databases=["default"]) == []
    sql("VACUUM FULL calls")
    [warning] = check_rollup_drift(databases=["default"])
    assert "its rows were rewritten" in warning.msg
