"""Whether 15-minute UTC buckets answer a zone and window exactly.

They do when every bucket lies inside one local hour and the window's local midnights
fall on bucket edges, which holds while the zone's UTC offset is a whole number of
quarter hours and changes only on a bucket edge. Every zone the endpoint accepts does
so today (Kathmandu +5:45, Chatham +12:45/+13:45, Lord Howe's half-hour DST), but
history has offsets such as Amsterdam's +0:19:32 and the zone database can change, so
it is checked, never assumed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo

BUCKET = timedelta(minutes=15)
_BUCKET_SECONDS = int(BUCKET.total_seconds())


def on_bucket_edge(moment: datetime) -> bool:
    return int(moment.timestamp()) % _BUCKET_SECONDS == 0 and moment.microsecond == 0


@functools.lru_cache(maxsize=1024)
def buckets_answer_exactly(zone: tzinfo, start: datetime, end: datetime) -> bool:
    """True when ``[start, end)`` (UTC, as :class:`~analytics.heatmap.query.HeatmapQuery` holds
    it) read in ``zone`` can be summed from 15-minute buckets without splitting one.

    Steps bucket edge by bucket edge (8,736 for 91 days, a few milliseconds, then cached):
    every edge's offset must be a whole number of quarter hours, and where the offset
    differs between two edges it must not yet have changed one microsecond before the
    second: it changed on that edge, not inside the bucket.
    """
    if not (on_bucket_edge(start) and on_bucket_edge(end)):
        return False
    step = BUCKET
    tick = timedelta(microseconds=1)
    moment = start.astimezone(UTC)
    offset = _offset(zone, moment)
    if offset % BUCKET:
        return False
    while moment < end:
        following = moment + step
        next_offset = _offset(zone, following)
        if next_offset != offset:
            if next_offset % BUCKET or _offset(zone, following - tick) != offset:
                return False
            offset = next_offset
        moment = following
    return True


def offsets_answer_exactly(changes: Iterable[datetime], offsets: Iterable[int]) -> bool:
    """True when zones whose UTC offsets over a window take only ``offsets`` (seconds) and
    change only at the instants ``changes`` can be read from 15-minute buckets: each offset
    a whole number of quarter hours, each change on a bucket edge.

    The lead's clock asks it of every zone of the time-zone map at once (the arrays of
    :class:`~analytics.heatmap.lead_clock.LeadOffsets`), where the viewer's clock asks
    :func:`buckets_answer_exactly` of one zone.
    """
    return all(on_bucket_edge(change) for change in changes) and all(
        offset % _BUCKET_SECONDS == 0 for offset in offsets
    )


def _offset(zone: tzinfo, moment: datetime) -> timedelta:
    offset = moment.astimezone(zone).utcoffset()
    return offset if offset is not None else timedelta(0)
