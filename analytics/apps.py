from importlib.util import find_spec

from django.apps import AppConfig
from django.core.checks import Tags, register
from django.db.models.signals import post_migrate


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Call analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: the checks use the models, which need the app registry ready.
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
        )

        register(check_token_verification, Tags.security)
        register(check_heatmap_settings)
        register(check_removed_settings)
        register(check_cors)
        # Tagged database: it runs only with ``check --database`` and ``migrate``.
        register(check_calls_index, Tags.database)
        register(check_rollup_source, Tags.database)
        register(check_rollup_drift, Tags.database)
        register(check_live_sessions, Tags.database)
        register(check_lead_zone_map, Tags.database)

        # The lead's time-zone map follows the shipped file after every migrate (and flush).
        from analytics.heatmap.lead_map import refresh_lead_zone_map

        post_migrate.connect(refresh_lead_zone_map, sender=self)

        # The OpenAPI description registers with drf-spectacular, which the app does not require.
        if find_spec("drf_spectacular") is not None:
            from analytics.api import schema  # noqa: F401
