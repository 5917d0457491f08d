"""The app's settings, read from ``django.conf.settings`` on every access.

Reading at access time (never at import time) keeps ``override_settings``
working in tests and lets a host change settings without reloading modules.
Supabase settings keep Supabase's own names; the app's own knobs carry the
``ANALYTICS_`` prefix. ``analytics.checks`` reports values of the wrong type
or range at start-up; the properties here assume the checks passed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

#: Where the heatmap's counts come from (``ANALYTICS_HEATMAP_SOURCE``).
HEATMAP_SOURCES = ("auto", "raw", "rollup")

#: Supabase Auth's longest allowed JWT expiry (``jwt_exp`` in the project's Auth settings).
SUPABASE_MAX_JWT_EXPIRY_SECONDS = 7 * 24 * 3600

#: Supabase serves its JWKS with a 10-minute cache; a revoked key must not be
#: trusted for longer than that here either, whatever the host configures.
MAX_JWKS_CACHE_SECONDS = 600.0


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
    def JWT_AUDIENCE(self) -> str:
        """Supabase gives signed-in users' tokens ``aud: authenticated``."""
        audience: str = _setting("ANALYTICS_JWT_AUDIENCE", "authenticated")
        return audience

    @property
    def JWT_LEEWAY_SECONDS(self) -> int:
        """Clock skew tolerated on ``exp``/``nbf``/``iat`` between Supabase and us."""
        leeway: int = _setting("ANALYTICS_JWT_LEEWAY_SECONDS", 30)
        return leeway

    @property
    def JWT_MAX_LIFETIME_SECONDS(self) -> float:
        """The longest ``exp - iat`` accepted: Supabase never issues longer (one week)."""
        seconds: float = _setting(
            "ANALYTICS_JWT_MAX_LIFETIME_SECONDS", SUPABASE_MAX_JWT_EXPIRY_SECONDS
        )
        return seconds

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
    def JWKS_CACHE_SECONDS(self) -> float:
        """How long fetched keys are trusted before the JWKS is read again (at most 600 s)."""
        return min(self.CONFIGURED_JWKS_CACHE_SECONDS, MAX_JWKS_CACHE_SECONDS)

    @property
    def CONFIGURED_JWKS_CACHE_SECONDS(self) -> float:
        """``ANALYTICS_JWKS_CACHE_SECONDS`` as the host set it, before the cap: for the checks."""
        seconds: float = _setting("ANALYTICS_JWKS_CACHE_SECONDS", MAX_JWKS_CACHE_SECONDS)
        return seconds

    @property
    def JWKS_TIMEOUT_SECONDS(self) -> float:
        """How long one JWKS request may wait on the network: a request waits on it."""
        seconds: float = _setting("ANALYTICS_JWKS_TIMEOUT_SECONDS", 5.0)
        return seconds

    @property
    def JWKS_REFETCH_COOLDOWN_SECONDS(self) -> float:
        """Minimum gap between an unknown ``kid`` (or a failed fetch) and the next fetch."""
        seconds: float = _setting("ANALYTICS_JWKS_REFETCH_COOLDOWN_SECONDS", 30.0)
        return seconds

    @property
    def HEATMAP_DATABASE(self) -> str:
        """The database alias the heatmap reads from: a read replica, where there is one."""
        alias: str = _setting("ANALYTICS_HEATMAP_DATABASE", "default")
        return alias

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

        The cap is shared by every app server (PostgreSQL advisory locks); the rollup's
        reads are cheap and never capped.
        """
        scans: int | None = _setting("ANALYTICS_HEATMAP_MAX_CONCURRENT_SCANS", 2)
        return scans

    @property
    def HEATMAP_SCAN_WAIT_SECONDS(self) -> float:
        """How long a request waits for a scan slot of its agency before answering 503."""
        seconds: float = _setting("ANALYTICS_HEATMAP_SCAN_WAIT_SECONDS", 5.0)
        return seconds

    @property
    def ADMIN_STATEMENT_TIMEOUT(self) -> float:
        """Seconds an admin page's query on ``calls`` may run on PostgreSQL before it stops."""
        seconds: float = _setting("ANALYTICS_ADMIN_STATEMENT_TIMEOUT", 5.0)
        return seconds


conf = AnalyticsSettings()
