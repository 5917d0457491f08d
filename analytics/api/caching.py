"""Answers kept in Django's cache framework, shared by every app server, and HTTP validators.

The cache only ever saves work: when it is unreachable the answer comes from
the database and the fault is logged, never raised. What it holds is plain JSON
(:func:`heatmap_to_primitive`), so a cache that stores JSON rather than pickles
(:class:`analytics.api.caching.JSONSerializer`) can hold it, and an entry
that does not read back as a heatmap is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date
from typing import Any
from uuid import UUID

from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.crypto import salted_hmac

from analytics.conf import conf
from analytics.exceptions import PreconditionFailed
from analytics.heatmap.measure import record_source
from analytics.heatmap.query import HeatmapQuery
from analytics.heatmap.selectors import heatmap_for
from analytics.heatmap.vocabulary import BestTime, Clock, Heatmap, HeatmapCell, Metric

logger = logging.getLogger(__name__)

#: Bump when the cached entry changes shape, so old entries are never read.
#: 2: JSON primitives (:func:`heatmap_to_primitive`) instead of a pickled ``Heatmap``.
#: 3: with the clock and its two counts.
CACHE_FORMAT = 3
#: Keys the ETag's HMAC, so it is not a hash anyone can compute from a guessed body. A
#: fixed value, not this module's path: moving the module must not change every ETag.
ETAG_SALT = "analytics.caching.etag"


def heatmap_to_primitive(result: Heatmap) -> dict[str, Any]:
    """``result`` as JSON types only: what the cache stores."""
    return {
        "start_date": result.start_date.isoformat(),
        "end_date": result.end_date.isoformat(),
        "metric": result.metric.value,
        "timezone": result.timezone,
        "cells": [
            [cell.day, cell.hour, cell.total_calls, cell.connected_calls, cell.meetings_booked]
            for cell in result.cells
        ],
        "best_times": [
            [best.day, best.hour, best.metric_value, best.label, best.total_calls]
            for best in result.best_times
        ],
        "clock": result.clock.value,
        "unplaced_calls": result.unplaced_calls,
        "outside_calling_hours": result.outside_calling_hours,
    }


def heatmap_from_primitive(entry: Any) -> Heatmap | None:
    """The ``Heatmap`` :func:`heatmap_to_primitive` made, or ``None`` for anything else."""
    try:
        return Heatmap(
            start_date=date.fromisoformat(entry["start_date"]),
            end_date=date.fromisoformat(entry["end_date"]),
            metric=Metric(entry["metric"]),
            timezone=str(entry["timezone"]),
            cells=tuple(HeatmapCell(*cell) for cell in entry["cells"]),
            best_times=tuple(BestTime(*best) for best in entry["best_times"]),
            clock=Clock(entry["clock"]),
            unplaced_calls=_count_or_none(entry["unplaced_calls"]),
            outside_calling_hours=_count_or_none(entry["outside_calling_hours"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _count_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not a count")
    return value


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
    if cached is not None and (hit := heatmap_from_primitive(cached)) is not None:
        record_source("cache")
        return hit
    answer = heatmap_for(agency_id=agency_id, query=query)
    try:
        cache.set(key, heatmap_to_primitive(answer), ttl)
    except Exception:
        logger.warning("Heatmap cache write failed", exc_info=True)
    return answer


def entity_tag(*, agency_id: UUID, representation: Any) -> str:
    """A strong ETag: changes exactly when the bytes do, and only the server can compute it.

    An HMAC keyed with ``SECRET_KEY`` and the agency, not a bare hash of the body:
    whoever sees an ETag (a log, a proxy) cannot confirm a guessed body offline,
    and two agencies with the same answer never share a tag.
    """
    payload = json.dumps([str(agency_id), representation], sort_keys=True, default=str)
    digest = salted_hmac(ETAG_SALT, payload, algorithm="sha256").hexdigest()
    return f'"{digest[:32]}"'


def conditional_response(
    request: HttpRequest, response: HttpResponse, *, agency_id: UUID, representation: Any
) -> HttpResponseBase:
    """Add ``Cache-Control``/``ETag``; a matching ``If-None-Match`` becomes a bodiless 304.

    ``representation`` is what the body is made from, plus anything that changes
    the bytes (such as the media type), so the ETag is strong. A failed
    ``If-Match`` raises :class:`PreconditionFailed`, so the 412 has the JSON body
    every other error has rather than Django's empty one.
    """
    patch_cache_control(response, private=True, max_age=max(conf.HEATMAP_CACHE_TTL, 0))
    patch_vary_headers(response, ["Authorization"])
    etag = entity_tag(agency_id=agency_id, representation=representation)
    response["ETag"] = etag
    conditional = get_conditional_response(request, etag=etag, response=response)
    if conditional is not None and conditional.status_code == PreconditionFailed.status_code:
        raise PreconditionFailed()
    return conditional if conditional is not None else response


class JSONSerializer:
    """For Django's ``RedisCache``: JSON, never pickles. Django pickles every value by
    default, so whoever can write to that Redis could make every app server run code of
    their choosing on its next read; with ``"OPTIONS": {"serializer":
    "analytics.api.caching.JSONSerializer"}`` a forged entry is at worst wrong data,
    which :func:`heatmap_from_primitive` reads as a miss.

    The interface of ``django.core.cache.backends.redis.RedisSerializer``, in JSON.

    Whole numbers are stored as Redis integers, as Django's own serializer does,
    so ``cache.incr()`` keeps working.
    """

    def dumps(self, obj: Any) -> bytes | int:
        if type(obj) is int:
            return obj
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

    def loads(self, data: bytes | int) -> Any:
        if isinstance(data, int):
            return data
        try:
            return int(data)
        except ValueError:
            return json.loads(data)
