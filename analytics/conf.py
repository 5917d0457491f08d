"""The app's settings, read from ``django.conf.settings`` on every access.

Reading at access time (never at import time) keeps ``override_settings``
working in tests and lets a host change settings without reloading modules.
Supabase settings keep Supabase's own names; the app's own knobs carry the
``ANALYTICS_`` prefix. ``analytics.checks`` reports values of the wrong type
or range at start-up; the properties here assume the checks passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.util import find_spec
from typing import Any

from django.conf import settings

from analytics.heatmap.vocabulary import DEFAULT_CALLING_HOURS, CallingHours

#: Where the heatmap's counts come from (``ANALYTICS_HEATMAP_SOURCE``).
HEATMAP_SOURCES = ("auto", "raw", "rollup")

#: Settings the app no longer reads, each with what took its place; ``analytics.W005``
#: names any a host still sets. Each became a constant beside the code that uses it.
REMOVED_SETTINGS = {
    "ANALYTICS_JWT_AUDIENCE": "Supabase's 'authenticated' (analytics.auth.tokens.AUDIENCE)",
    "ANALYTICS_JWT_MAX_LIFETIME_SECONDS": (
        "Supabase's longest expiry, one week (analytics.auth.tokens.MAX_LIFETIME_SECONDS)"
    ),
    "ANALYTICS_JWKS_CACHE_SECONDS": (
        "Supabase's own 10 minutes (analytics.auth.jwks.CACHE_SECONDS); "
        "analytics.auth.jwks.forget_signing_keys() drops the keys at once"
    ),
    "ANALYTICS_JWKS_TIMEOUT_SECONDS": "5 s (analytics.auth.jwks.TIMEOUT_SECONDS)",
    "ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS": "30 s (analytics.auth.jwks.COOLDOWN_SECONDS)",
    "ANALYTICS_HEATMAP_SCAN_WAIT_SECONDS": "5 s (analytics.heatmap.limits.SCAN_WAIT_SECONDS)",
    "ANALYTICS_ADMIN_STATEMENT_TIMEOUT": "5 s (analytics.admin.timeouts.STATEMENT_TIMEOUT)",
    "ANALYTICS_SKIP_USER_LOOKUP": "SupabaseClaimsAuthentication, for views that need no agency",
}


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


class AnalyticsSettings:
    @property
    def SUPABASE_URL(self) -> str | None:
        """The project's URL (``https://<ref>.supabase.co``): gives the issuer and the JWKS."""
        value: str | None = _setting("SUPABASE_URL", None) or None
        return value.rstrip("/") if isinstance(value, str) else value

    @property
    def SUPABASE_JWKS_URL(self) -> str | None:
        """Where the signing keys are published, when not at the usual place under the URL."""
        return _setting("SUPABASE_JWKS_URL", None) or None

    @property
    def SUPABASE_JWT_SECRET(self) -> str | None:
        """The project's legacy JWT secret; set, it enables HS256 access tokens."""
        return _setting("SUPABASE_JWT_SECRET", None) or None

    @property
    def JWKS_URL(self) -> str | None:
        """The JWKS to fetch asymmetric keys from; ``None`` accepts HS256 tokens only."""
        if self.SUPABASE_JWKS_URL:
            return self.SUPABASE_JWKS_URL
        if self.SUPABASE_URL:
            return f"{self.SUPABASE_URL}/auth/v1/.well-known/jwks.json"
        return None

    @property
    def JWT_ISSUER(self) -> str | None:
        """Supabase Auth signs ``iss: <url>/auth/v1``; without a URL the issuer is not checked."""
        return f"{self.SUPABASE_URL}/auth/v1" if self.SUPABASE_URL else None

    @property
    def JWT_LEEWAY_SECONDS(self) -> int:
        """Clock skew tolerated on ``exp``/``nbf``/``iat`` between Supabase and us."""
        leeway: int = _setting("ANALYTICS_JWT_LEEWAY_SECONDS", 30)
        return leeway

    @property
    def ALLOW_ANONYMOUS_USERS(self) -> bool:
        """Whether tokens of Supabase's anonymous sign-ins (``is_anonymous: true``) are served."""
        allowed: bool = _setting("ANALYTICS_ALLOW_ANONYMOUS_USERS", False)
        return allowed

    @property
    def REQUIRE_LIVE_SESSION(self) -> bool:
        """Whether the token's ``session_id`` must still be in ``auth.sessions`` (one read)."""
        required: bool = _setting("ANALYTICS_REQUIRE_LIVE_SESSION", False)
        return required

    @property
    def HEATMAP_DATABASE(self) -> str:
        """The database alias the heatmap reads from: a read replica, where there is one."""
        alias: str = _setting("ANALYTICS_HEATMAP_DATABASE", "default")
        return alias

    @property
    def HEATMAP_REPLICA_MAX_LAG(self) -> float | None:
        """Seconds the replica ``HEATMAP_DATABASE`` names may replay behind its primary
        before the heatmap reads ``"default"`` instead; ``None``: its lag is not asked.
        A replica that is down or cancels a read is answered from ``"default"`` either way.
        """
        seconds: float | None = _setting("ANALYTICS_HEATMAP_REPLICA_MAX_LAG", 30.0)
        return seconds

    @property
    def HEATMAP_STATEMENT_TIMEOUT(self) -> float:
        """Seconds the calls query may run on PostgreSQL before it is cancelled (a 500)."""
        seconds: float = _setting("ANALYTICS_HEATMAP_STATEMENT_TIMEOUT", 10.0)
        return seconds

    @property
    def HEATMAP_SOURCE(self) -> str:
        """``"auto"``: the rollup when it is installed and ready on ``HEATMAP_DATABASE``, else
        a scan of calls; ``"raw"``: always the scan; ``"rollup"``: the rollup, its absence
        an error the checks and the logs report (the scan still answers meanwhile).

        Either way a zone or window that 15-minute buckets cannot answer exactly, and
        SQLite, are answered by the scan.
        """
        source: str = _setting("ANALYTICS_HEATMAP_SOURCE", "auto")
        return source

    @property
    def HEATMAP_CACHE(self) -> str:
        """The cache alias (``CACHES``) answers are kept in; share one across app servers."""
        alias: str = _setting("ANALYTICS_HEATMAP_CACHE", "default")
        return alias

    @property
    def HEATMAP_CACHE_TTL(self) -> int:
        """Seconds an answer is cached and may be reused by the browser; 0 disables both."""
        seconds: int = _setting("ANALYTICS_HEATMAP_CACHE_TTL", 60)
        return seconds

    @property
    def HEATMAP_THROTTLE_RATE(self) -> str | None:
        """Requests one user may make (``"120/min"``); ``None`` or ``""`` turns throttling off.

        Counted in ``HEATMAP_CACHE``, so the limit holds across app servers sharing it.
        """
        rate: str | None = _setting("ANALYTICS_HEATMAP_THROTTLE_RATE", "120/min") or None
        return rate

    @property
    def HEATMAP_AGENCY_THROTTLE_RATE(self) -> str | None:
        """Requests all the users of one agency may make together (``"600/min"``); ``None``
        or ``""`` turns it off. Five users at the per-user rate, or a dashboard open on
        every desk of a busy floor, refreshing each 6 s: a team's use, not a script's.
        """
        rate: str | None = _setting("ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE", "600/min") or None
        return rate

    @property
    def HEATMAP_MAX_CONCURRENT_SCANS(self) -> int | None:
        """Scans of ``calls`` one agency may run at once on PostgreSQL; ``None``: no cap.

        Counted in ``HEATMAP_CACHE`` (``analytics.heatmap.limits.scan_slot``), not in a
        database: with a cache every app server shares, this many in all, on the primary,
        a standby and the fallback to the primary together; with a per-process cache, or
        one that cannot be reached, this many per process. The rollup's reads are cheap and
        never capped.
        """
        scans: int | None = _setting("ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS", 2)
        return scans

    @property
    def CALLING_HOURS(self) -> CallingHours | None:
        """Lead-local hours ``(start, end)``, ``[start, end)``, in which calls may be placed:
        with ``clock=lead`` only they rank as best times. ``None``: no restriction.
        """
        hours = self.CALLING_HOURS_SETTING
        return None if hours is None else CallingHours(*hours)

    @property
    def CALLING_HOURS_SETTING(self) -> Any:
        """``ANALYTICS_CALLING_HOURS`` as the host wrote it, for ``analytics.E002`` to judge."""
        return _setting("ANALYTICS_CALLING_HOURS", DEFAULT_CALLING_HOURS)

    @property
    def ADMIN_TIME_ZONE(self) -> str | None:
        """The IANA zone the admin's heatmap page starts in; ``None``: the zone this staff
        user last asked for, else the host's current zone (``TIME_ZONE``)."""
        zone: str | None = _setting("ANALYTICS_ADMIN_TIME_ZONE", None) or None
        return zone

    @property
    def SERVER_TIMING(self) -> bool:
        """Whether heatmap answers carry a ``Server-Timing`` header (source, database time,
        scan wait). Off by default: whoever gets the answer sees the timings."""
        timing: bool = _setting("ANALYTICS_SERVER_TIMING", False)
        return timing


conf = AnalyticsSettings()


def for_transaction_pooler(database: Mapping[str, Any]) -> dict[str, Any]:
    """``database`` made safe behind a transaction-mode pooler (Supavisor on port 6543).

    There each transaction may run on another server connection, so nothing may outlive
    a transaction: not a server-side cursor (Django's ``.iterator()`` opens one ``WITH
    HOLD``), not a prepared statement (psycopg 3 prepares a query it has run five times).
    The app's own settings are ``SET LOCAL`` for the same reason (``analytics.db``). A
    host's ``settings.py`` may import this: the module reads settings only when asked.

    Django uses psycopg 3 whenever it is importable, so ``prepare_threshold`` is
    set only then: psycopg2 never prepares, and libpq would refuse the option.
    """
    options = dict(database.get("OPTIONS") or {})
    if find_spec("psycopg") is not None:
        options["prepare_threshold"] = None
    return {**database, "DISABLE_SERVER_SIDE_CURSORS": True, "OPTIONS": options}
