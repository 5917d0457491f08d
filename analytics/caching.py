"""Answers kept in Django's cache framework, shared by every app server, and HTTP validators.

The cache only ever saves work: when it is unreachable the answer comes from
the database and the fault is logged, never raised.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from uuid import UUID

from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers

from analytics.conf import conf
from analytics.domain import Heatmap
from analytics.queries import HeatmapQuery
from analytics.selectors import heatmap_for

logger = logging.getLogger(__name__)

#: Bump when the cached ``Heatmap`` changes shape, so old entries are never read.
CACHE_FORMAT = 1


def heatmap_cache_key(*, agency_id: UUID, query: HeatmapQuery) -> str:
    """One key per agency and ``query.identity``: what cannot change the answer is not in it."""
    identity = {"agency_id": str(agency_id), "format": CACHE_FORMAT, **query.identity}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
    return f"analytics:heatmap:{digest.hexdigest()}"


def cached_heatmap(*, agency_id: UUID, query: HeatmapQuery) -> Heatmap:
    """``heatmap_for()``, answered from the cache for ``ANALYTICS_HEATMAP_CACHE_TTL`` seconds."""
    ttl = conf.HEATMAP_CACHE_TTL
    if ttl <= 0:
        return heatmap_for(agency_id=agency_id, query=query)
    key = heatmap_cache_key(agency_id=agency_id, query=query)
    cache = caches[conf.HEATMAP_CACHE]
    try:
        cached = cache.get(key)
    except Exception:
        logger.warning("Heatmap cache read failed; answering from the database", exc_info=True)
        cached = None
    if isinstance(cached, Heatmap):
        return cached
    answer = heatmap_for(agency_id=agency_id, query=query)
    try:
        cache.set(key, answer, ttl)
    except Exception:
        logger.warning("Heatmap cache write failed", exc_info=True)
    return answer


def conditional_response(
    request: HttpRequest, response: HttpResponse, *, representation: Any
) -> HttpResponseBase:
    """Add ``Cache-Control``/``ETag``; a matching ``If-None-Match`` becomes a bodiless 304.

    ``representation`` is what the body is made from, plus anything that changes
    the bytes (such as the media type), so the ETag is strong.
    """
    patch_cache_control(response, private=True, max_age=max(conf.HEATMAP_CACHE_TTL, 0))
    patch_vary_headers(response, ["Authorization"])
    digest = hashlib.sha256(json.dumps(representation, sort_keys=True, default=str).encode())
    etag = f'"{digest.hexdigest()[:32]}"'
    response["ETag"] = etag
    conditional = get_conditional_response(request, etag=etag, response=response)
    return conditional if conditional is not None else response
