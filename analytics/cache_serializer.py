"""A serializer for Django's Redis cache that stores JSON, never pickles.

Django's ``RedisCache`` pickles every value by default, so whoever can write to
that Redis can make every app server run code of their choosing on its next
read. With ``"OPTIONS": {"serializer": "analytics.cache_serializer.JSONSerializer"}``
a forged entry is at worst wrong data, which :mod:`analytics.caching` then reads
as a miss. Everything the app keeps in the cache (answers, throttle histories)
is JSON already.
"""

from __future__ import annotations

import json
from typing import Any


class JSONSerializer:
    """The interface of ``django.core.cache.backends.redis.RedisSerializer``, in JSON.

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
