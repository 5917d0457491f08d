"""Per-user and per-agency request throttling for the heatmap endpoint.

Every page view of every agency user calls the endpoint, so one runaway tab
or script must not be able to take the database's time from everyone else,
and neither may the users of one agency together. The throttles key on the
user (the token's ``sub``) and on the agency its ``users`` row gives, run after
authentication and permissions (so 401s and 403s are never counted), and
keeps its counts in the cache the heatmap uses (``ANALYTICS_HEATMAP_CACHE``),
which several app servers share when it is Redis.

A throttle only protects: when its cache is unreachable it lets the request
through and logs, rather than turning a cache outage into an outage of the
endpoint.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle

from analytics.conf import conf

logger = logging.getLogger(__name__)

#: ``<requests>/<period>``, as DRF reads it, with the period words DRF documents.
RATE_PATTERN = re.compile(
    r"(?P<requests>[1-9][0-9]*)/(?P<period>s|sec|second|m|min|minute|h|hour|d|day)"
)


def is_valid_rate(rate: Any) -> bool:
    """A rate the throttle can use: ``None``/``""`` (off) or ``"<positive int>/<period>"``."""
    if rate is None or rate == "":
        return True
    return isinstance(rate, str) and RATE_PATTERN.fullmatch(rate) is not None


class HeatmapUserRateThrottle(UserRateThrottle):
    """DRF's per-user sliding-window throttle, with its rate and cache from the app's settings.

    The rate comes from ``ANALYTICS_HEATMAP_THROTTLE_RATE`` rather than the host's
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, so mounting the app needs no
    throttle configuration and a host's defaults cannot change it. Over the rate,
    DRF answers 429 with ``Retry-After``.

    DRF's read-then-write of the request history is not atomic, so concurrent
    requests of one user can slip a few past the rate; it never refuses early.
    """

    scope = "dashboard_heatmap"

    def __init__(self) -> None:
        # DRF instantiates throttles per request: settings are read fresh each time.
        self.cache = caches[conf.HEATMAP_CACHE]
        super().__init__()

    def get_rate(self) -> str | None:
        return conf.HEATMAP_THROTTLE_RATE

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning(
                "Throttle cache %r unreachable; letting the request through",
                conf.HEATMAP_CACHE,
                exc_info=True,
            )
            return True


class HeatmapAgencyRateThrottle(HeatmapUserRateThrottle):
    """The same throttle, keyed on the caller's agency: its users share one allowance.

    Its rate is ``ANALYTICS_HEATMAP_AGENCY_THROTTLE_RATE``; over it, the same 429
    body and ``Retry-After`` as the per-user throttle. A request the per-user
    throttle refused is not counted here: the view stops at the first refusal.
    """

    scope = "dashboard_heatmap_agency"

    def get_rate(self) -> str | None:
        return conf.HEATMAP_AGENCY_THROTTLE_RATE

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        agency_id = getattr(request.user, "agency_id", None)
        if agency_id is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": agency_id}
