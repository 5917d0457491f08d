from importlib.util import find_spec

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Call analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for its side effect: registering the app's system checks.
        from analytics import checks  # noqa: F401

        # The OpenAPI description registers with drf-spectacular, which the app does not require.
        if find_spec("drf_spectacular") is not None:
            from analytics import schema  # noqa: F401
