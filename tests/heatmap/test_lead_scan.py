"""The raw scan on the lead's clock, against an oracle built from ``phonenumbers`` itself."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from analytics.heatmap.selectors import count_lead_calls_by_slot
from tests.helpers import (
    PHONE_NUMBERS,
    MakeCall,
    insert_calls,
    moment_in_window,
    new_call,
    oracle_lead_heatmap,
    random_call,
    utc,
)

pytestmark = pytest.mark.django_db

WINDOW = (utc(2026, 1, 1), utc(2027, 1, 1))


def counted(agency_id: uuid.UUID, start: datetime, end: datetime) -> tuple[dict, int]:
    answer = count_lead_calls_by_slot(agency_id=agency_id, start=start, end=end)
    cells = {
        (cell.day, cell.hour): [cell.total_calls, cell.connected_calls, cell.meetings_booked]
        for cell in answer.cells
    }
    assert answer.unplaced is not None
    return cells, answer.unplaced


def test_random_calls_of_every_kind_of_number_are_placed_as_the_oracle_places_them(
    agency_id: uuid.UUID,
) -> None:
    rng = random.Random(19)
    today = date(2026, 12, 7)
    calls = [random_call(rng, [agency_id], today) for _ in range(600)]
    insert_calls(calls)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    end = datetime(2026, 12, 8, 5, 45, tzinfo=UTC)
    expected = oracle_lead_heatmap(calls, start=start, end=end)
    assert counted(agency_id, start, end) == expected
    assert expected[1] > 0
    assert len(expected[0]) > 20


@pytest.mark.parametrize(
    ("phone_number", "created_at", "slot"),
    [
        # Denver and Phoenix: both UTC-7 in January, placed; in July Denver is UTC-6.
        ("+1 928 283 0100", utc(2026, 1, 14, 17), (3, 10)),
        ("+1 928 283 0100", utc(2026, 7, 15, 17), None),
        # Adak (UTC-10/-9) and Anchorage (UTC-9/-8) never agree; Juneau's own prefix does.
        ("+19075550100", utc(2026, 1, 14, 17), None),
        ("+19072090100", utc(2026, 1, 14, 17), (3, 8)),
        # A UK mobile: four zones that always agree.
        ("+447911123456", utc(2026, 7, 15, 17), (3, 18)),
        # +61 alone: eight zones that disagree; Sydney's own prefix is placed.
        ("+61 5 1234 5678", utc(2026, 7, 15, 1), None),
        ("+61 2 9374 4000", utc(2026, 7, 15, 1), (3, 11)),
        # India +5:30 and Nepal +5:45 at 02:20 UTC: 07:50 and 08:05.
        ("+91 98200 12345", utc(2026, 7, 15, 2, 20), (3, 7)),
        ("+977 1 4412345", utc(2026, 7, 15, 2, 20), (3, 8)),
        # Chatham +12:45 in July (standard time): 10:00 UTC is 22:45.
        ("+64 3 305 0123", utc(2026, 7, 15, 10), (3, 22)),
        # New York falls back on 2026-11-01 at 06:00 UTC: 05:59 is 01:59 EDT, 06:00 01:00 EST.
        ("+12125550100", utc(2026, 11, 1, 5, 59), (0, 1)),
        ("+12125550100", utc(2026, 11, 1, 6, 0), (0, 1)),
        ("+12125550100", utc(2026, 11, 1, 7, 0), (0, 2)),
        # Not E.164, or no prefix.
        ("(212) 555-0100", utc(2026, 7, 15, 17), None),
        ("+15550100", utc(2026, 7, 15, 17), None),
        ("+1 212 555 0100 ext 5", utc(2026, 7, 15, 17), None),
        ("", utc(2026, 7, 15, 17), None),
        (None, utc(2026, 7, 15, 17), None),
    ],
)
def test_one_call_lands_in_the_leads_local_slot_or_is_not_placed(
    make_call: MakeCall,
    agency_id: uuid.UUID,
    phone_number: str | None,
    created_at: datetime,
    slot: tuple | None,
) -> None:
    make_call(created_at=created_at, phone_number=phone_number)
    cells, unplaced = counted(agency_id, *WINDOW)
    if slot is None:
        assert (cells, unplaced) == ({}, 1)
    else:
        assert (cells, unplaced) == ({slot: [1, 0, 0]}, 0)


def test_every_listed_number_agrees_with_the_oracle_at_a_summer_and_a_winter_instant(
    agency_id: uuid.UUID,
) -> None:
    calls = [
        new_call(agency_id, moment, phone_number=number)
        for number in PHONE_NUMBERS
        for moment in (utc(2026, 1, 20, 15, 30), utc(2026, 7, 20, 15, 30))
    ]
    insert_calls(calls)
    assert counted(agency_id, *WINDOW) == oracle_lead_heatmap(calls, start=WINDOW[0], end=WINDOW[1])


@pytest.mark.parametrize(
    ("local_time", "hour"),
    [("07:59:59.999999", 7), ("08:00:00", 8), ("20:59:59.999999", 20), ("21:00:00", 21)],
)
def test_the_calling_hour_edges_fall_on_the_leads_wall_clock(
    make_call: MakeCall, agency_id: uuid.UUID, local_time: str, hour: int
) -> None:
    # New York in July is UTC-4: the lead's 08:00 is 12:00 UTC.
    local = datetime.fromisoformat(f"2026-07-15T{local_time}")
    make_call(
        created_at=(local + timedelta(hours=4)).replace(tzinfo=UTC), phone_number="+12125550100"
    )
    cells, _ = counted(agency_id, *WINDOW)
    assert cells == {(3, hour): [1, 0, 0]}


def test_the_window_and_filters_apply_before_placing(
    make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    campaign = uuid.uuid4()
    rng = random.Random(5)
    inside = moment_in_window(rng, date(2026, 12, 7))
    for campaign_id, status, moment in [
        (campaign, "ended", inside),
        (None, "ended", inside),
        (campaign, "queued", inside),
        (campaign, "ended", utc(2025, 1, 1)),
    ]:
        make_call(
            campaign_id=campaign_id, status=status, created_at=moment, phone_number="+15550100"
        )
    answer = count_lead_calls_by_slot(
        agency_id=agency_id, start=utc(2026, 1, 1), end=utc(2027, 1, 1), campaign_id=campaign
    )
    assert (answer.cells, answer.unplaced) == ((), 1)
