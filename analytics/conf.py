"""The app's settings, read from ``django.conf.settings`` on every access.

Reading at access time (never at import time) keeps ``override_settings``
working in tests and lets a host change settings without reloading modules.
Supabase settings keep Supabase's own names; the app's own knobs carry the
``ANALYTICS_`` prefix.
"""

from __future__ import annotations

from django.conf import settings


class AnalyticsSettings:
    @property
    def SUPABASE_JWT_SECRET(self) -> str | None:
        """The project's legacy JWT secret, used to verify HS256 access tokens."""
        return getattr(settings, "SUPABASE_JWT_SECRET", None) or None

    @property
    def JWT_AUDIENCE(self) -> str:
        """Supabase gives signed-in users' tokens ``aud: authenticated``."""
        return getattr(settings, "ANALYTICS_JWT_AUDIENCE", "authenticated")

    @property
    def JWT_LEEWAY_SECONDS(self) -> int:
        """Clock skew tolerated on ``exp``/``nbf``/``iat`` between Supabase and us."""
        return getattr(settings, "ANALYTICS_JWT_LEEWAY_SECONDS", 30)


conf = AnalyticsSettings()
