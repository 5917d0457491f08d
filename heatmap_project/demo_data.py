"""A realistic synthetic agency for the demo: who calls when, whom, and what comes of it.

The agency, in New York, calls leads across the United States and abroad, mostly in the
leads' business hours, sometimes on its own clock (too early in California, at night in
Sydney), and a few numbers cannot be placed: ``?clock=lead`` shows all three.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from analytics.models import Call, User

NAMESPACE = uuid.UUID("6f1c2b1e-2f43-4a8e-9a55-4bd0c0a6d5e1")
DEMO_AGENCY_ID = uuid.uuid5(NAMESPACE, "agency:demo")
OTHER_AGENCY_ID = uuid.uuid5(NAMESPACE, "agency:other")
DEMO_USER_ID = uuid.uuid5(NAMESPACE, "user:demo")
CAMPAIGN_IDS = [uuid.uuid5(NAMESPACE, f"campaign:{n}") for n in range(4)]
CLIENT_IDS = [uuid.uuid5(NAMESPACE, f"client:{n}") for n in range(6)]

#: The demo agency sits on the US east coast; its dialer works New York's business hours.
AGENCY_ZONE = ZoneInfo("America/New_York")
HOUR_WEIGHTS = {8: 2, 9: 6, 10: 9, 11: 8, 12: 4, 13: 5, 14: 8, 15: 7, 16: 5, 17: 2, 18: 1}
WEEKDAY_WEIGHTS = {0: 6, 1: 10, 2: 10, 3: 9, 4: 8, 5: 1, 6: 0}  # Monday=0, as datetime does
#: Pickup improves mid-morning and mid-afternoon *of the lead's day*, and is poor early and
#: late: on the lead's clock (``clock=lead``) the heatmap has something to show.
PICKUP_BY_HOUR = {6: 0.08, 7: 0.15, 9: 0.35, 10: 0.48, 11: 0.42, 14: 0.45, 15: 0.40, 21: 0.1}


@dataclass(frozen=True)
class Market:
    """Leads in one place: their zone, and their numbers as spelled in the CRM, each
    ``{}`` four random digits."""

    zone: ZoneInfo
    numbers: tuple[str, ...]
    weight: int


#: The leads the demo agency calls: the United States across its zones, then the United
#: Kingdom, India (+5:30), Nepal (+5:45) and Sydney: US numbers on the fictional 555
#: exchange, all spelled as people type them; the time-zone map places them by prefix.
MARKETS = (
    Market(ZoneInfo("America/New_York"), ("+1212555{}", "+1 (646) 555-{}", "+1 404 555 {}"), 30),
    Market(ZoneInfo("America/Chicago"), ("+1312555{}", "+1-713-555-{}"), 18),
    Market(ZoneInfo("America/Denver"), ("+1 303 555 {}",), 7),
    Market(ZoneInfo("America/Phoenix"), ("+1602555{}",), 5),
    Market(ZoneInfo("America/Los_Angeles"), ("+1213555{}", "+1.415.555.{}", "+1206555{}"), 18),
    Market(ZoneInfo("Pacific/Honolulu"), ("+1 808 555 {}",), 2),
    Market(ZoneInfo("Europe/London"), ("+44 20 7946 {}", "+447911 12{}"), 6),
    Market(ZoneInfo("Asia/Kolkata"), ("+91 98200 1{}",), 5),
    Market(ZoneInfo("Asia/Kathmandu"), ("+977 1 441{}",), 2),
    Market(ZoneInfo("Australia/Sydney"), ("+61 2 9374 {}",), 2),
)
#: Numbers the map cannot place: Alaska's +1 907 alone (Adak and Anchorage never agree),
#: one without its country code, a fictional +1 555, and none at all.
UNPLACED_NUMBERS = ("+1 907 555 {}", "(212) 555-{}", "+1 555 {}", "", None)
UNPLACED_SHARE = 0.05
#: Calls the dialer places on the agency's own clock, whatever the lead's: New York's
#: 9:00 reaches Los Angeles at 6:00 and Sydney at night, outside the calling hours.
AGENCY_CLOCK_SHARE = 0.25
END_REASONS = ["completed", "hangup", "voicemail", "busy", "no_answer"]


def _spell(rng: random.Random, template: str | None) -> str | None:
    return None if template is None else template.format(f"{rng.randrange(10_000):04d}")


@dataclass(frozen=True)
class Lead:
    """Who a call is to: the number, the zone the lead lives in (``None`` when the map
    cannot place the number), and the zone the dialer chose the call's hour in."""

    number: str | None
    zone: ZoneInfo | None
    dialed_in: ZoneInfo


def _lead(rng: random.Random) -> Lead:
    """A lead to call, at an hour of their day or, for a share of calls (and every number
    the map cannot place), of the agency's."""
    if rng.random() < UNPLACED_SHARE:
        return Lead(_spell(rng, rng.choice(UNPLACED_NUMBERS)), None, AGENCY_ZONE)
    market = rng.choices(MARKETS, [market.weight for market in MARKETS])[0]
    dialed_in = AGENCY_ZONE if rng.random() < AGENCY_CLOCK_SHARE else market.zone
    return Lead(_spell(rng, rng.choice(market.numbers)), market.zone, dialed_in)


def _moments(
    rng: random.Random, now: datetime, days: int, count: int
) -> Iterator[tuple[datetime, Lead]]:
    """``count`` calls of the last ``days`` days: when each was made, and to whom."""
    hours, hour_weights = zip(*HOUR_WEIGHTS.items(), strict=True)
    produced = 0
    while produced < count:
        lead = _lead(rng)
        local_now = now.astimezone(lead.dialed_in)
        dates = [(local_now - timedelta(days=offset)).date() for offset in range(days)]
        day = rng.choices(dates, [WEEKDAY_WEIGHTS[d.weekday()] for d in dates])[0]
        hour = rng.choices(hours, hour_weights)[0]
        moment = datetime(
            day.year,
            day.month,
            day.day,
            hour,
            rng.randrange(60),
            rng.randrange(60),
            tzinfo=lead.dialed_in,
        ).astimezone(UTC)
        if moment <= now:
            produced += 1
            yield moment, lead


def _call(rng: random.Random, agency_id: uuid.UUID, created_at: datetime, lead: Lead) -> Call:
    # The lead picks up by the hour of their own day.
    local_hour = created_at.astimezone(lead.zone or AGENCY_ZONE).hour
    status = "ended" if rng.random() < 0.97 else rng.choice(["failed", "in_progress"])
    roll = rng.random()
    joined_at: datetime | None = None
    end_reason: str | None = rng.choice(["no_answer", "busy", "voicemail"])
    if roll < PICKUP_BY_HOUR.get(local_hour, 0.3):
        joined_at = created_at + timedelta(seconds=rng.randrange(5, 40))
        end_reason = rng.choice([*END_REASONS[:2], None])
    elif roll < 0.55:
        end_reason = "unjoined"
    booked = joined_at is not None and rng.random() < 0.15
    analysis: dict[str, object] | None = None
    if rng.random() >= 0.1:
        analysis = {
            "summary": "Prospect asked for a follow-up." if booked else "No next step agreed.",
            "sdr": {"meeting_booked": booked, "sentiment": rng.choice(["positive", "neutral"])},
        }
    return Call(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        agency_id=agency_id,
        campaign_id=rng.choice(CAMPAIGN_IDS),
        client_id=rng.choice(CLIENT_IDS),
        status=status,
        created_at=created_at,
        joined_at=joined_at,
        end_reason=end_reason,
        analysis=analysis,
        phone_number=lead.number,
    )


@transaction.atomic
def seed_demo_data(*, calls: int = 12_000, days: int = 90, seed: int = 7) -> int:
    """Replace the demo agencies' rows with a fresh, reproducible set; return the call count."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    agencies = (DEMO_AGENCY_ID, OTHER_AGENCY_ID)
    Call.objects.filter(agency_id__in=agencies).delete()
    User.objects.filter(pk=DEMO_USER_ID).delete()
    User.objects.create(id=DEMO_USER_ID, agency_id=DEMO_AGENCY_ID)
    rows = [_call(rng, DEMO_AGENCY_ID, *call) for call in _moments(rng, now, days, calls)]
    # Another agency's calls share the tables; the demo user must never see them.
    rows += [_call(rng, OTHER_AGENCY_ID, *call) for call in _moments(rng, now, days, calls // 4)]
    Call.objects.bulk_create(rows, batch_size=2_000)
    return len(rows)
