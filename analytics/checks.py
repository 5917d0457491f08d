"""System checks: configuration mistakes surface at start-up, not as 401s in production.

``AnalyticsConfig.ready()`` registers them. An id names a kind of mistake, not a
setting: ``E002`` is any setting's unusable value and ``E011`` any alias missing from
``DATABASES`` or ``CACHES``, each message naming the setting. The checks that read the
catalogs are tagged ``database``: Django runs them only with ``check --database`` (and
``migrate``). ``docs/settings.md`` lists every id, and the retired ones, never reused.

The app's settings are read through ``analytics.conf``; Django's own (``DEBUG``,
``DATABASES``, ``CACHES``) straight from ``django.conf.settings``, which always has them.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DatabaseError, connections, transaction
from django.urls import NoReverseMatch, URLResolver, get_resolver, get_script_prefix, reverse
from django.urls.resolvers import RoutePattern

from analytics.api.throttling import is_valid_rate
from analytics.auth.authentication import (
    SESSIONS_SCHEMA,
    SESSIONS_TABLE,
    SESSIONS_TABLE_NAME,
    sessions_database,
)
from analytics.conf import HEATMAP_SOURCES, REMOVED_SETTINGS, conf
from analytics.db import first_line, table_readable
from analytics.heatmap.vocabulary import Zone
from analytics.models import Call, LeadZoneMap

#: One id for every setting whose value the app cannot use (a type, a range, a choice);
#: the message starts with the setting's name and says what it takes.
WRONG_VALUE = "analytics.E002"
#: One id for a setting that names a database or cache the host has not configured.
UNKNOWN_ALIAS = "analytics.E011"

REDIS_CACHE_BACKEND = "django.core.cache.backends.redis.RedisCache"
JSON_CACHE_SERIALIZER = "analytics.api.caching.JSONSerializer"
#: What PyJWT itself asks of an HS256 key; Supabase's legacy secrets are longer.
MIN_SECRET_LENGTH = 32


def check_token_verification(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    return [*_check_keys(), *_check_claims()]


def _check_keys() -> list[CheckMessage]:
    """Some way to verify tokens, and each way sound."""
    messages: list[CheckMessage] = []
    secret = conf.SUPABASE_JWT_SECRET
    urls = {"SUPABASE_URL": conf.SUPABASE_URL, "SUPABASE_JWKS_URL": conf.SUPABASE_JWKS_URL}
    if not secret and not any(urls.values()):
        messages.append(
            Error(
                "Neither SUPABASE_URL (or SUPABASE_JWKS_URL) nor SUPABASE_JWT_SECRET is set, "
                "so no access token can be verified.",
                hint="Set SUPABASE_URL to your project's URL (https://<ref>.supabase.co); "
                "set SUPABASE_JWT_SECRET as well only if the project still signs with the "
                "legacy JWT secret.",
                id="analytics.E001",
            )
        )
    if secret is not None and not isinstance(secret, str):
        messages.append(Error("SUPABASE_JWT_SECRET must be a string.", id=WRONG_VALUE))
    elif secret is not None and len(secret) < MIN_SECRET_LENGTH:
        messages.append(
            Error(
                f"SUPABASE_JWT_SECRET is shorter than {MIN_SECRET_LENGTH} characters, "
                "short enough to guess and forge tokens with.",
                hint="Use the project's JWT secret as Supabase shows it, or move the project "
                "to asymmetric signing keys and set SUPABASE_URL instead.",
                id=WRONG_VALUE,
            )
        )
    for name, url in urls.items():
        if url is None:
            continue
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            messages.append(Error(f"{name} must be an http(s) URL.", obj=url, id=WRONG_VALUE))
    jwks_url = conf.JWKS_URL
    if isinstance(jwks_url, str) and urlsplit(jwks_url).scheme == "http" and not settings.DEBUG:
        messages.append(
            Warning(
                "The JWKS is read over plain http, so whoever sits on the network path "
                "can hand this server keys to accept forged tokens with.",
                hint="Use https for SUPABASE_URL / SUPABASE_JWKS_URL outside local development.",
                obj=jwks_url,
                id="analytics.W001",
            )
        )
    return messages


def _check_claims() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    leeway = conf.JWT_LEEWAY_SECONDS
    if isinstance(leeway, bool) or not isinstance(leeway, int) or leeway < 0:
        messages.append(
            Error(
                "ANALYTICS_JWT_LEEWAY_SECONDS must be a non-negative integer.",
                id=WRONG_VALUE,
            )
        )
    for name, value in (
        ("ANALYTICS_ALLOW_ANONYMOUS_USERS", conf.ALLOW_ANONYMOUS_USERS),
        ("ANALYTICS_REQUIRE_LIVE_SESSION", conf.REQUIRE_LIVE_SESSION),
    ):
        if not isinstance(value, bool):
            messages.append(Error(f"{name} must be True or False.", id=WRONG_VALUE))
    return messages


def _seconds_above_zero(name: str, value: Any) -> list[CheckMessage]:
    """A timeout: a finite number of seconds above 0 (``bool`` is not a number here)."""
    if _is_number(value) and value > 0:
        return []
    return [Error(f"{name} must be a number of seconds above 0.", id=WRONG_VALUE)]


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def check_heatmap_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Where the heatmap reads and caches, how long it may take and how often a user may ask."""
    messages: list[CheckMessage] = []
    if conf.HEATMAP_DATABASE not in settings.DATABASES:
        messages.append(
            Error(
                f"ANALYTICS_HEATMAP_DATABASE names {conf.HEATMAP_DATABASE!r}, "
                "which is not in DATABASES.",
                id=UNKNOWN_ALIAS,
            )
        )
    ttl = conf.HEATMAP_CACHE_TTL
    caching = not isinstance(ttl, bool) and isinstance(ttl, int) and ttl > 0
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        messages.append(
            Error(
                "ANALYTICS_HEATMAP_CACHE_TTL must be a whole number of seconds, 0 to disable.",
                id=WRONG_VALUE,
            )
        )
    rate = conf.HEATMAP_THROTTLE_RATE
    if not is_valid_rate(rate):
        messages.append(
            Error(
                f"ANALYTICS_HEATMAP_THROTTLE_RATE is {rate!r}, not a rate such as '120/min'.",
                hint="Give '<requests>/<period>' with a period of s, sec, second, m, min, "
                "minute, h, hour, d or day and at least 1 request; None or '' turns "
                "throttling off.",
                id=WRONG_VALUE,
            )
        )
    agency_rate = conf.HEATMAP_AGENCY_THROTTLE_RATE
    if not is_valid_rate(agency_rate):
        messages.append(
            Error(
                f"ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE is {agency_rate!r}, "
                "not a rate such as '600/min'.",
                hint="As ANALYTICS_HEATMAP_THROTTLE_RATE: '<requests>/<period>', or None or ''.",
                id=WRONG_VALUE,
            )
        )
    scans = conf.HEATMAP_MAX_CONCURRENT_SCANS
    if scans is not None and (isinstance(scans, bool) or not isinstance(scans, int) or scans < 1):
        messages.append(
            Error(
                "ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS must be a whole number above 0, "
                "or None for no cap.",
                id=WRONG_VALUE,
            )
        )
    # The throttles and the scan slots count in the same cache as the answers, even with
    # caching off.
    counted = rate or agency_rate or scans is not None
    if (caching or counted) and conf.HEATMAP_CACHE not in settings.CACHES:
        messages.append(
            Error(
                f"ANALYTICS_HEATMAP_CACHE names {conf.HEATMAP_CACHE!r}, which is not in CACHES.",
                hint="Answers, the throttles' counts and the scan slots are kept there.",
                id=UNKNOWN_ALIAS,
            )
        )
    if caching or rate or agency_rate:
        messages += _check_cache_serializer(settings.CACHES.get(conf.HEATMAP_CACHE, {}))
    messages += _seconds_above_zero(
        "ANALYTICS_HEATMAP_STATEMENT_TIMEOUT", conf.HEATMAP_STATEMENT_TIMEOUT
    )
    max_lag = conf.HEATMAP_REPLICA_MAX_LAG
    if max_lag is not None and not (_is_number(max_lag) and max_lag >= 0):
        messages.append(
            Error(
                "ANALYTICS_HEATMAP_REPLICA_MAX_LAG must be a number of seconds, 0 or more, "
                "or None to never ask the replica's lag.",
                id=WRONG_VALUE,
            )
        )
    if not valid_calling_hours(conf.CALLING_HOURS_SETTING):
        messages.append(
            Error(
                f"ANALYTICS_CALLING_HOURS is {conf.CALLING_HOURS_SETTING!r}, not a pair of "
                "whole hours (start, end) with 0 <= start < end <= 24, or None.",
                hint="The default (8, 21) is the TCPA's 8 a.m. to 9 p.m., lead-local; a range "
                "cannot wrap past midnight.",
                id=WRONG_VALUE,
            )
        )
    messages += _check_admin_time_zone(conf.ADMIN_TIME_ZONE)
    if not isinstance(conf.SERVER_TIMING, bool):
        messages.append(Error("ANALYTICS_SERVER_TIMING must be True or False.", id=WRONG_VALUE))
    if conf.HEATMAP_SOURCE not in HEATMAP_SOURCES:
        messages.append(
            Error(
                f"ANALYTICS_HEATMAP_SOURCE is {conf.HEATMAP_SOURCE!r}, not one of "
                f"{', '.join(map(repr, HEATMAP_SOURCES))}.",
                id=WRONG_VALUE,
            )
        )
    return messages


def _check_admin_time_zone(name: Any) -> list[CheckMessage]:
    """``ANALYTICS_ADMIN_TIME_ZONE``: unset, or a zone the endpoint's ``tz`` accepts."""
    if name is None:
        return []
    try:
        Zone.named(name if isinstance(name, str) else "")
    except ValueError as exc:
        return [
            Error(
                f"ANALYTICS_ADMIN_TIME_ZONE is {name!r}: {exc}",
                hint="The admin's heatmap page starts in this zone; None starts it in "
                "the host's TIME_ZONE.",
                id=WRONG_VALUE,
            )
        ]
    return []


def check_removed_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """A setting the app no longer reads: the host meant something by it, and it is ignored."""
    return [
        Warning(
            f"{name} is set, but the app no longer reads it.",
            hint=f"Remove it; in its place: {replacement}.",
            id="analytics.W005",
        )
        for name, replacement in REMOVED_SETTINGS.items()
        if hasattr(settings, name)
    ]


#: What a page on another origin needs of django-cors-headers to revalidate: to read the
#: ``ETag`` it keeps, and to send it back in ``If-None-Match`` (a 304) or ``If-Match`` (a 412).
CORS_EXPOSED_FOR_REVALIDATION = ("ETag",)
CORS_ALLOWED_FOR_REVALIDATION = ("If-None-Match", "If-Match")


def check_cors(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """W009: django-cors-headers would keep the SPA from revalidating on the endpoint's URLs.

    One warning per setting to change (``CORS_EXPOSE_HEADERS``, ``CORS_ALLOW_HEADERS``),
    ``If-Match`` beside ``If-None-Match``: one line of the host's settings fixes both.
    Quiet without django-cors-headers, when the host does not mount the endpoint, and
    when ``CORS_URLS_REGEX`` matches none of its paths (CORS is off there). Whether an
    origin is listed yet does not matter: hosts often fill that list per environment.
    """
    if not apps.is_installed("corsheaders"):
        return []
    from corsheaders.conf import conf as cors

    pattern = cors.CORS_URLS_REGEX
    if not isinstance(pattern, str | re.Pattern):
        return []  # corsheaders.E009 says so
    paths = [path for path in heatmap_paths() if re.match(pattern, path)]
    if not paths:
        return []
    # "*" stands for every name only for requests without credentials (the Fetch standard).
    wildcard = not cors.CORS_ALLOW_CREDENTIALS
    where = f"the heatmap ({paths[0]})"
    messages: list[CheckMessage] = []
    hidden = _not_covered(CORS_EXPOSED_FOR_REVALIDATION, cors.CORS_EXPOSE_HEADERS, wildcard)
    if hidden:
        messages.append(
            Warning(
                f"django-cors-headers hides {_names(hidden)} from pages on other origins on "
                f"{where}: CORS_EXPOSE_HEADERS does not list it, so the SPA cannot keep the "
                "ETag to revalidate with.",
                hint=f"Add {_names(hidden, quoted=True)} to CORS_EXPOSE_HEADERS "
                '(beside "Content-Disposition" and "Retry-After"; docs/install.md).',
                id="analytics.W009",
            )
        )
    refused = _not_covered(CORS_ALLOWED_FOR_REVALIDATION, cors.CORS_ALLOW_HEADERS, wildcard)
    if refused:
        messages.append(
            Warning(
                f"django-cors-headers refuses {_names(refused)} at preflight on {where}: "
                "CORS_ALLOW_HEADERS does not list them, so the SPA cannot revalidate "
                "(a 304 to If-None-Match) nor send If-Match (a 412).",
                hint="Set CORS_ALLOW_HEADERS = (*corsheaders.defaults.default_headers, "
                + ", ".join(f'"{name.lower()}"' for name in CORS_ALLOWED_FOR_REVALIDATION)
                + ") (docs/install.md).",
                id="analytics.W009",
            )
        )
    return messages


def _not_covered(wanted: Sequence[str], setting: Any, wildcard: bool) -> list[str]:
    """The header names of ``wanted`` that ``setting`` does not list, in any case."""
    try:
        listed = {str(name).lower() for name in setting}
    except TypeError:
        listed = set()  # not a sequence: django-cors-headers' own check says so
    if wildcard and "*" in listed:
        return []
    return [name for name in wanted if name.lower() not in listed]


def _names(names: Sequence[str], *, quoted: bool = False) -> str:
    shown = [f'"{name}"' if quoted else name for name in names]
    return " and ".join(shown)


def heatmap_paths() -> list[str]:
    """Each path the host's URLconf serves the heatmap at, as ``CORS_URLS_REGEX`` sees it
    (``request.path_info``): under any prefix or namespace; none when it is not mounted.

    A route of plain text is read as it is; any other is reversed by its name, through
    the namespaces it is included under. One that needs arguments is left out.
    """
    # Here, not at the top: every start-up imports this module, and only W009 needs the views.
    from analytics.api.views import CallHeatmapApi

    paths: list[str] = []

    def walk(entries: Sequence[Any], parts: list[Any], namespaces: list[str]) -> None:
        for entry in entries:
            if isinstance(entry, URLResolver):
                inner = [*namespaces, entry.namespace] if entry.namespace else namespaces
                walk(entry.url_patterns, [*parts, entry.pattern], inner)
                continue
            view = getattr(entry.callback, "view_class", None)
            if not (isinstance(view, type) and issubclass(view, CallHeatmapApi)):
                continue
            route = [*parts, entry.pattern]
            if all(isinstance(part, RoutePattern) and not part.converters for part in route):
                paths.append("/" + "".join(str(part) for part in route))
            elif entry.name:
                with contextlib.suppress(NoReverseMatch):
                    reversed_path = reverse(":".join([*namespaces, entry.name]))
                    paths.append("/" + reversed_path.removeprefix(get_script_prefix()))

    walk(get_resolver().url_patterns, [], [])
    return paths


def _check_cache_serializer(cache: Any) -> list[CheckMessage]:
    """Django's ``RedisCache`` pickles by default: a writer to Redis could run code here."""
    if not isinstance(cache, dict) or cache.get("BACKEND") != REDIS_CACHE_BACKEND:
        return []
    if (cache.get("OPTIONS") or {}).get("serializer"):
        return []
    return [
        Warning(
            f"ANALYTICS_HEATMAP_CACHE ({conf.HEATMAP_CACHE!r}) is Django's RedisCache with its "
            "default serializer, pickle: whoever can write to that Redis can run code in "
            "every app server when an entry is read.",
            hint=f'Add "serializer": "{JSON_CACHE_SERIALIZER}" to its OPTIONS; the app '
            "keeps only JSON there.",
            id="analytics.W004",
        )
    ]


def valid_calling_hours(hours: Any) -> bool:
    """``None``, or a pair of integers (not booleans) with ``0 <= start < end <= 24``."""
    if hours is None:
        return True
    if not isinstance(hours, tuple | list) or len(hours) != 2:
        return False
    if any(isinstance(hour, bool) or not isinstance(hour, int) for hour in hours):
        return False
    start: int
    end: int
    start, end = hours
    return 0 <= start < end <= 24


def check_lead_zone_map(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """The lead's clock reads the time-zone map from the heatmap database's tables: they
    must hold the map this release ships. A database check, like :func:`check_calls_index`.
    """
    alias = conf.HEATMAP_DATABASE
    if not databases or alias not in databases or alias not in settings.DATABASES:
        return []
    from analytics.heatmap.lead_clock import shipped_map
    from analytics.heatmap.lead_map import loaded_map_version

    zone_map = shipped_map()
    shipped = zone_map.version
    connection = connections[alias]
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    if LeadZoneMap._meta.db_table not in tables:
        return []  # not migrated yet: ``migrate`` runs the checks first, then loads the map
    loaded = loaded_map_version(alias)
    if loaded != shipped:
        found = "no map" if loaded is None else f"the map of phonenumbers {loaded}"
        return [
            Warning(
                f"The {alias!r} database holds {found}; this release ships the map of "
                f"phonenumbers {shipped}, so clock=lead places calls by the map loaded.",
                hint="Run: python manage.py migrate analytics, then, with the rollup "
                "installed, python manage.py heatmap_rollup install (docs/lead-clock.md).",
                id="analytics.W006",
            )
        ]
    return lead_zone_warnings(alias, zone_map.groups) + _check_rollup_map(alias)


def _check_rollup_map(alias: str) -> list[CheckMessage]:
    """A ready rollup whose lead grains count by another map than the app's tables hold:
    ``clock=lead`` is then read from calls (exact, but slow) until it is remapped.
    """
    if connections[alias].vendor != "postgresql":
        return []
    from analytics.rollup.state import read_state

    state = read_state(alias)
    if not state.answers or state.map_current:
        return []
    return [
        Warning(
            f"The rollup on {alias!r} counts by the map of phonenumbers {state.map_version}; "
            f"the app's tables hold {state.app_map_version}, so clock=lead scans calls.",
            hint="Run: python manage.py heatmap_rollup install (it remaps online).",
            id="analytics.W008",
        )
    ]


def check_rollup_drift(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """W010: calls changed since the rollup last counted it, unseen by its triggers (a
    column's type, or a rewrite: ``ALTER ... TYPE ... USING``, ``VACUUM FULL``). The
    heatmap then scans calls until a repair. A database check, like :func:`check_calls_index`.
    """
    alias = conf.HEATMAP_DATABASE
    if not databases or alias not in databases or alias not in settings.DATABASES:
        return []
    if connections[alias].vendor != "postgresql":
        return []
    from analytics.rollup.state import REPAIR_COMMAND, drift_message, read_state

    state = read_state(alias)
    if not state.answers or not state.drift:
        return []
    return [
        Warning(
            drift_message(alias, state.drift),
            hint=f"Run: {REPAIR_COMMAND} (docs/rollup.md#when-calls-changes-shape).",
            id="analytics.W010",
        )
    ]


def lead_zone_warnings(alias: str, groups: Sequence[tuple[str, ...]]) -> list[CheckMessage]:
    """Zones of the map that Python's zone database lacks (their numbers are never placed),
    and on PostgreSQL those the server lacks (a ``tz`` of that name could not be counted).
    """
    import zoneinfo

    names = sorted({zone for group in groups for zone in group})
    available = zoneinfo.available_timezones()
    missing = {"Python's zone database": [name for name in names if name not in available]}
    connection = connections[alias]
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT name FROM unnest(%s::text[]) AS name "
                    "WHERE name NOT IN (SELECT name FROM pg_timezone_names)",
                    [names],
                )
                missing[f"the {alias!r} server"] = [row[0] for row in cursor.fetchall()]
        except DatabaseError as exc:
            missing[f"the {alias!r} server (not readable: {first_line(exc)})"] = []
    return [
        Warning(
            f"{where} lacks {len(lacking)} zone(s) of the lead's time-zone map: "
            f"{', '.join(lacking[:20])}{' ...' if len(lacking) > 20 else ''}.",
            hint=(
                "Numbers in those zones are never placed on the lead's clock: update the "
                "system's tzdata (or install the tzdata package)."
                if where.startswith("Python")
                else "The lead's clock takes offsets from Python, but a tz of such a name "
                "cannot be counted by this server: update its zone database."
            ),
            id="analytics.W007",
        )
        for where, lacking in missing.items()
        if lacking
    ]


def check_rollup_source(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """``ANALYTICS_HEATMAP_SOURCE = "rollup"`` with no ready rollup to read.

    A database check, like :func:`check_calls_index`.
    """
    alias = conf.HEATMAP_DATABASE
    if conf.HEATMAP_SOURCE != "rollup" or not databases or alias not in databases:
        return []
    if alias not in settings.DATABASES:
        return []
    from analytics.rollup.state import read_state

    if connections[alias].vendor != "postgresql":
        problem = f"the {alias!r} database is {connections[alias].vendor}, which has no rollup"
    else:
        current = read_state(alias)
        if current.answers:
            return []
        problem = (
            f"the rollup on {alias!r} is not ready"
            if current.installed
            else f"the rollup is not installed on {alias!r}"
        )
    return [
        Error(
            f"ANALYTICS_HEATMAP_SOURCE is 'rollup', but {problem}; every heatmap scans calls.",
            hint="Run: python manage.py heatmap_rollup install (or set it to 'auto').",
            id="analytics.E017",
        )
    ]


def check_live_sessions(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """``ANALYTICS_REQUIRE_LIVE_SESSION`` on, with no ``auth.sessions`` to read.

    Every request would then be a 500. A database check, like :func:`check_calls_index`,
    on the database the ``users`` rows (and so the sessions) are read from.
    """
    if not conf.REQUIRE_LIVE_SESSION or not databases:
        return []
    alias = sessions_database()
    if alias not in databases:
        return []
    connection = connections[alias]
    if connection.vendor != "postgresql":
        problem = f"the {alias!r} database is {connection.vendor}, which has no {SESSIONS_TABLE}"
    else:
        try:
            # A savepoint, should the check run inside a transaction (a test's, migrate's).
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                readable = table_readable(cursor, SESSIONS_SCHEMA, SESSIONS_TABLE_NAME)
        except DatabaseError as exc:
            # The first line is the server's message; later ones may quote the SQL.
            problem = f"{SESSIONS_TABLE} on {alias!r} could not be looked up ({first_line(exc)})"
        else:
            if readable:
                return []
            problem = (
                f"the {alias!r} database has no {SESSIONS_TABLE} table"
                if readable is None
                else f"the database user cannot read {SESSIONS_TABLE} on {alias!r}"
            )
    return [
        Error(
            f"ANALYTICS_REQUIRE_LIVE_SESSION is on, but {problem}; every request would fail.",
            hint="Read users from Supabase's own PostgreSQL, where Auth keeps auth.sessions "
            "(GRANT USAGE ON SCHEMA auth and SELECT ON auth.sessions to Django's role), "
            "or turn ANALYTICS_REQUIRE_LIVE_SESSION off.",
            id="analytics.E025",
        )
    ]


def check_calls_index(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Without an (agency_id, created_at) index every heatmap reads the whole calls table.

    A database check: Django runs it with ``check --database <alias>`` and ``migrate``.
    """
    alias = conf.HEATMAP_DATABASE
    if not databases or alias not in databases or alias not in settings.DATABASES:
        return []
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return []
    table = Call._meta.db_table
    with connection.cursor() as cursor:
        if table not in connection.introspection.table_names(cursor):
            return [
                Warning(
                    f"The {table!r} table does not exist in the {alias!r} database.",
                    hint="The heatmap reads the Supabase application's calls table.",
                    id="analytics.W003",
                )
            ]
        constraints = connection.introspection.get_constraints(cursor, table)
    wanted = ["agency_id", "created_at"]
    if any(c["index"] and c["columns"][:2] == wanted for c in constraints.values()):
        return []
    return [
        Warning(
            f"The {table!r} table has no index leading with (agency_id, created_at), "
            "so every heatmap request scans the whole table.",
            hint="Run: CREATE INDEX CONCURRENTLY idx_calls_agency_created "
            f"ON {table} (agency_id, created_at);",
            id="analytics.W002",
        )
    ]
