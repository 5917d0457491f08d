from importlib.util import find_spec

from django.apps import AppConfig
from django.core.checks import Tags, register


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Call analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: the checks use the models, which need the app registry ready.
        from analytics.checks import (
            check_calls_index,
            check_heatmap_settings,
            check_live_sessions,
            check_removed_settings,
            check_rollup_source,
            check_token_verification,
        )

        register(check_token_verification, Tags.security)
        register(check_heatmap_settings)
        register(check_removed_settings)
        # Tagged database: it runs only with ``check --database`` and ``migrate``.
        register(check_calls_index, Tags.database)
        register(check_rollup_source, Tags.database)
        register(check_live_sessions, Tags.database)

        # The OpenAPI description registers with drf-spectacular, which the app does not require.
        if find_spec("drf_spectacular") is not None:
            from analytics.api import schema  # noqa: F401
