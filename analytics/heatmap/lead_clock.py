"""The lead's clock: which zones a called number is in, and their UTC offset at an instant.

The rule is the contract (docs/lead-clock.md): strip the space, ``-``, ``.``, ``(`` and
``)``; what is left must be E.164 (``+`` and 7 to 15 ASCII digits, the first not 0); the
zones are libphonenumber's time-zone map entry for the longest prefix of the digits that
the map has; the call is placed when every zone is in the zone database and all have
one UTC offset at the call's instant. Nothing is guessed: no default country, no first
zone of a list.

The map ships as ``analytics/data/lead_zones.json`` (``scripts/lead_zones`` writes it
from one ``phonenumbers`` release) and ``migrate`` loads it into the app's tables, where
the scans and the rollup look numbers up. Free of Django, like the vocabulary.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

MAP_FILE = Path(__file__).resolve().parent.parent / "data" / "lead_zones.json"

#: What is stripped from ``phone_number`` before the E.164 test, and nothing else.
STRIPPED_CHARACTERS = " -.()"
_STRIP = str.maketrans("", "", STRIPPED_CHARACTERS)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)

#: The longest prefix the map may hold; the lookup key reads this many digits.
KEY_DIGITS = 9
#: Shortest number E.164 allows here: ``+`` and 7 digits.
MIN_DIGITS = 7
#: In the offset arrays the SQL reads: the zones of the group disagree, or one is unknown.
NOT_PLACED = 999_999
#: How often each zone's offset is sampled over a window before the change is bisected to
#: the second. No zone of the map changes twice within a day since 1970 (checked when
#: this was written, and tests/heatmap/test_lead_clock.py steps hourly over a window).
SAMPLE_STEP = timedelta(days=1)


def e164_digits(phone_number: str | None) -> str | None:
    """The number's digits (no ``+``) when, stripped, it is E.164; else ``None``."""
    if not phone_number:
        return None
    stripped = phone_number.translate(_STRIP)
    return stripped[1:] if _E164.fullmatch(stripped) else None


def lookup_key(digits: str) -> int:
    """``digits`` as the integer the map's ranges are keyed by.

    Its first 9 digits padded with zeros, times ten, plus the digit count (9 at most):
    integers compare in the order the prefixes nest, and a 7- or 8-digit number never
    falls in the range of a longer prefix. The SQL computes the same from ``phone_number``.
    """
    head = digits[:KEY_DIGITS].ljust(KEY_DIGITS, "0")
    return int(head) * 10 + min(len(digits), KEY_DIGITS)


def prefix_key_ranges(prefix: str) -> list[tuple[int, int]]:
    """The ``[low, high)`` lookup keys of the numbers that start with ``prefix``."""
    if not 1 <= len(prefix) <= KEY_DIGITS or not prefix.isdigit():
        raise ValueError(f"The map's prefix {prefix!r} is not 1 to {KEY_DIGITS} digits.")
    low = int(prefix.ljust(KEY_DIGITS, "0"))
    high = int(prefix.ljust(KEY_DIGITS, "9"))
    if len(prefix) <= MIN_DIGITS:
        return [(low * 10, high * 10 + 10)]
    # Only numbers at least as long as the prefix: per padded head, the lengths from it on.
    return [(head * 10 + len(prefix), head * 10 + 10) for head in range(low, high + 1)]


@dataclass(frozen=True)
class LeadZoneMap:
    """libphonenumber's time-zone map, as one ``phonenumbers`` release has it."""

    version: str
    prefixes: Mapping[str, tuple[str, ...]]

    @functools.cached_property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The distinct zone lists; group ``n`` is ``groups[n - 1]`` (0 means no prefix)."""
        return tuple(sorted(set(self.prefixes.values())))

    @functools.cached_property
    def _group_ids(self) -> dict[tuple[str, ...], int]:
        return {zones: number for number, zones in enumerate(self.groups, start=1)}

    def zones_for(self, digits: str) -> tuple[str, ...] | None:
        """The zones of the longest prefix of ``digits`` in the map, or ``None``."""
        for length in range(min(len(digits), KEY_DIGITS), 0, -1):
            zones = self.prefixes.get(digits[:length])
            if zones is not None:
                return zones
        return None

    def ranges(self) -> list[tuple[int, int, str | None]]:
        """``(first key, group, prefix)`` of each run of lookup keys with one longest prefix,
        in key order; a range runs to the next one's first key, and group 0 is no prefix.
        """
        covers = sorted(
            (low, high, prefix)
            for prefix in self.prefixes
            for low, high in prefix_key_ranges(prefix)
        )
        edges = sorted({0} | {low for low, _, _ in covers} | {high for _, high, _ in covers})
        ranges: list[tuple[int, int, str | None]] = []
        open_covers: list[tuple[int, int, str]] = []
        position = 0
        for edge in edges:
            while position < len(covers) and covers[position][0] <= edge:
                open_covers.append(covers[position])
                position += 1
            open_covers = [cover for cover in open_covers if cover[1] > edge]
            longest = max((cover[2] for cover in open_covers), key=len, default=None)
            group = 0 if longest is None else self._group_ids[self.prefixes[longest]]
            if not ranges or ranges[-1][1] != group or ranges[-1][2] != longest:
                ranges.append((edge, group, longest))
        return ranges


@functools.cache
def shipped_map() -> LeadZoneMap:
    """The map in ``analytics/data/lead_zones.json``: what the migrations load."""
    document = json.loads(MAP_FILE.read_text())
    prefixes = {prefix: tuple(zones) for prefix, zones in document["prefixes"].items()}
    return LeadZoneMap(version=str(document["phonenumbers"]), prefixes=prefixes)


@dataclass(frozen=True)
class LeadOffsets:
    """Each zone group's UTC offset over a window, in the arrays the scans read.

    The window splits at ``changes``, every instant where one of the map's zones changes
    its offset; in segment ``s`` (0 before the first change) group ``g`` is at
    ``seconds[(g - 1) * (len(changes) + 1) + s]``, or :data:`NOT_PLACED`.
    """

    changes: tuple[datetime, ...]
    seconds: tuple[int, ...]

    def offset(self, group: int, moment: datetime) -> int | None:
        """Group ``group``'s offset at ``moment`` in seconds, or ``None`` (not placed)."""
        if group <= 0:
            return None
        segment = bisect.bisect_right(self.changes, moment)
        value = self.seconds[(group - 1) * (len(self.changes) + 1) + segment]
        return None if value == NOT_PLACED else value

    def segments(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, int]]:
        """``(from, to, segment)`` covering ``[start, end)``."""
        bounds = [start, *self.changes, end]
        return [(bounds[index], bounds[index + 1], index) for index in range(len(bounds) - 1)]


@functools.lru_cache(maxsize=64)
def lead_offsets(
    groups: tuple[tuple[str, ...], ...], start: datetime, end: datetime
) -> LeadOffsets:
    """:class:`LeadOffsets` of ``groups`` over ``[start, end)`` by Python's zone database.

    A few tens of milliseconds for the whole map over 92 days, then cached: a window
    changes once a day per ``tz``.
    """
    zones = sorted({zone for group in groups for zone in group})
    known = {zone: _zone(zone) for zone in zones}
    changes = sorted(
        {
            moment
            for zone in known.values()
            if zone is not None
            for moment in offset_changes(zone, start, end)
        }
    )
    starts = [start, *changes]
    seconds: list[int] = []
    for group in groups:
        infos = [known[zone] for zone in group]
        for moment in starts:
            if any(info is None for info in infos):
                seconds.append(NOT_PLACED)
                continue
            offsets = {_offset_seconds(info, moment) for info in infos if info is not None}
            seconds.append(offsets.pop() if len(offsets) == 1 else NOT_PLACED)
    return LeadOffsets(changes=tuple(changes), seconds=tuple(seconds))


def offset_changes(zone: zoneinfo.ZoneInfo, start: datetime, end: datetime) -> Iterable[datetime]:
    """The instants in ``(start, end)`` where ``zone``'s UTC offset changes, to the second."""
    moment = start
    offset = _offset_seconds(zone, moment)
    while moment < end:
        following = min(moment + SAMPLE_STEP, end)
        next_offset = _offset_seconds(zone, following)
        if next_offset != offset:
            # The zone database changes offsets on whole seconds: bisect over them.
            low, high = int(moment.timestamp()), math.ceil(following.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_seconds(zone, datetime.fromtimestamp(middle, UTC)) == offset:
                    low = middle
                else:
                    high = middle
            change = datetime.fromtimestamp(high, UTC)
            if change < end:
                yield change
            offset = next_offset
        moment = following


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _offset_seconds(zone: zoneinfo.ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())
