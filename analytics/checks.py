"""System checks: configuration mistakes surface at start-up, not as 401s in production."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Tags, register

from analytics.conf import conf


@register(Tags.security)
def check_token_verification(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    secret = conf.SUPABASE_JWT_SECRET
    if secret is not None and not isinstance(secret, str):
        errors.append(
            Error(
                "SUPABASE_JWT_SECRET must be a string.",
                id="analytics.E002",
            )
        )
    elif not secret:
        errors.append(
            Error(
                "SUPABASE_JWT_SECRET is not set, so no access token can be verified.",
                hint="Set it to your Supabase project's JWT secret "
                "(Project Settings > API > JWT Settings).",
                id="analytics.E001",
            )
        )
    if not isinstance(conf.JWT_AUDIENCE, str) or not conf.JWT_AUDIENCE:
        errors.append(
            Error("ANALYTICS_JWT_AUDIENCE must be a non-empty string.", id="analytics.E003")
        )
    leeway = conf.JWT_LEEWAY_SECONDS
    if isinstance(leeway, bool) or not isinstance(leeway, int) or leeway < 0:
        errors.append(
            Error(
                "ANALYTICS_JWT_LEEWAY_SECONDS must be a non-negative integer.",
                id="analytics.E004",
            )
        )
    return errors
