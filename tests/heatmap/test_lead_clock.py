"""The lead's clock's rule and map, checked against libphonenumber and Python's zones."""

from __future__ import annotations

import bisect
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers.tzdata import TIMEZONE_DATA

from analytics.heatmap.lead_clock import (
    NOT_PLACED,
    e164_digits,
    lead_offsets,
    lookup_key,
    offset_changes,
    shipped_map,
)


def test_the_shipped_map_is_phonenumbers_map_of_the_release_written_beside_it() -> None:
    zone_map = shipped_map()
    assert zone_map.version == phonenumbers.__version__
    assert dict(zone_map.prefixes) == {prefix: tuple(z) for prefix, z in TIMEZONE_DATA.items()}


@pytest.mark.parametrize(
    ("phone_number", "digits"),
    [
        ("+12125550100", "12125550100"),
        ("+1 (212) 555-0100", "12125550100"),
        ("+1.212.555.0100", "12125550100"),
        ("+44 (0) 20 7946 0000", "4402079460000"),
        ("+1234567", "1234567"),
        ("+123456789012345", "123456789012345"),
        ("+123456", None),
        ("+1234567890123456", None),
        ("+0123456789", None),
        ("12125550100", None),
        ("+1\t2125550100", None),
        ("+1_212_555_0100", None),
        ("+1212555010\n", None),
        ("+\u0661\u0662\u0661\u0662\u0665\u0665\u0665\u0660\u0661\u0660\u0660", None),
        ("", None),
        (None, None),
    ],
)
def test_only_space_dash_dot_and_parentheses_are_stripped_before_the_e164_test(
    phone_number: str | None, digits: str | None
) -> None:
    assert e164_digits(phone_number) == digits


def test_the_range_of_a_numbers_key_names_its_longest_prefix_in_the_map() -> None:
    zone_map = shipped_map()
    ranges = zone_map.ranges()
    keys = [key for key, _, _ in ranges]
    assert keys == sorted(keys)
    assert keys[0] == 0
    rng = random.Random(19)
    prefixes = sorted(zone_map.prefixes)
    for _ in range(50_000):
        if rng.random() < 0.7:
            head = rng.choice(prefixes)
            digits = head + "".join(rng.choice("0123456789") for _ in range(15))
        else:
            digits = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(14))
        digits = digits[: rng.randint(7, 15)]
        _, group, _ = ranges[bisect.bisect_right(keys, lookup_key(digits)) - 1]
        found = zone_map.groups[group - 1] if group else None
        assert found == zone_map.zones_for(digits), digits


def test_a_number_shorter_than_a_prefix_never_falls_in_its_range() -> None:
    zone_map = shipped_map()
    long_prefix = next(p for p in sorted(zone_map.prefixes) if len(p) == 8)
    digits = long_prefix[:7]
    ranges = zone_map.ranges()
    keys = [key for key, _, _ in ranges]
    _, _, prefix = ranges[bisect.bisect_right(keys, lookup_key(digits)) - 1]
    assert prefix != long_prefix
    assert prefix is None or digits.startswith(prefix)


def test_offset_changes_are_found_to_the_second_for_every_zone_of_the_map() -> None:
    # A 90-day window with most of the southern and northern hemispheres' changes.
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    zones = sorted({zone for group in shipped_map().groups for zone in group})
    for name in zones:
        zone = ZoneInfo(name)
        found = list(offset_changes(zone, start, end))
        for change in found:
            before = (change - timedelta(seconds=1)).astimezone(zone).utcoffset()
            assert before != change.astimezone(zone).utcoffset(), name
        # Stepping every hour finds no change the daily sampling missed.
        moment, offset, seen = start, start.astimezone(zone).utcoffset(), 0
        while moment < end:
            moment += timedelta(hours=1)
            if moment < end and moment.astimezone(zone).utcoffset() != offset:
                offset = moment.astimezone(zone).utcoffset()
                seen += 1
        assert seen == len(found), name


def test_a_groups_offset_is_one_where_its_zones_agree_and_none_where_they_do_not() -> None:
    zone_map = shipped_map()
    groups = zone_map.groups
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    offsets = lead_offsets(groups, start, end)
    denver_phoenix = groups.index(("America/Denver", "America/Phoenix")) + 1
    assert offsets.offset(denver_phoenix, datetime(2026, 1, 15, tzinfo=UTC)) == -7 * 3600
    assert offsets.offset(denver_phoenix, datetime(2026, 7, 15, tzinfo=UTC)) is None
    adak_anchorage = groups.index(("America/Adak", "America/Anchorage")) + 1
    assert offsets.offset(adak_anchorage, datetime(2026, 1, 15, tzinfo=UTC)) is None
    assert offsets.offset(0, datetime(2026, 1, 15, tzinfo=UTC)) is None
    assert NOT_PLACED not in {offsets.offset(g, start) for g in range(1, len(groups) + 1)}
