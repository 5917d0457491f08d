"""A realistic synthetic agency for the demo: who calls when, and what comes of it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
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

#: The demo agency dials prospects on the US east coast, in their business hours.
PROSPECT_ZONE = ZoneInfo("America/New_York")
HOUR_WEIGHTS = {8: 2, 9: 6, 10: 9, 11: 8, 12: 4, 13: 5, 14: 8, 15: 7, 16: 5, 17: 2, 18: 1}
WEEKDAY_WEIGHTS = {0: 6, 1: 10, 2: 10, 3: 9, 4: 8, 5: 1, 6: 0}  # Monday=0, as datetime does
#: Pickup improves mid-morning and mid-afternoon: the heatmap has something to show.
PICKUP_BY_HOUR = {9: 0.35, 10: 0.48, 11: 0.42, 14: 0.45, 15: 0.40}
END_REASONS = ["completed", "hangup", "voicemail", "busy", "no_answer"]


def _moments(rng: random.Random, now: datetime, days: int, count: int) -> Iterator[datetime]:
    local_now = now.astimezone(PROSPECT_ZONE)
    dates = [(local_now - timedelta(days=offset)).date() for offset in range(days)]
    date_weights = [WEEKDAY_WEIGHTS[d.weekday()] for d in dates]
    hours, hour_weights = zip(*HOUR_WEIGHTS.items(), strict=True)
    produced = 0
    while produced < count:
        day = rng.choices(dates, date_weights)[0]
        hour = rng.choices(hours, hour_weights)[0]
        moment = datetime(
            day.year,
            day.month,
            day.day,
            hour,
            rng.randrange(60),
            rng.randrange(60),
            tzinfo=PROSPECT_ZONE,
        ).astimezone(UTC)
        if moment <= now:
            produced += 1
            yield moment


def _call(rng: random.Random, agency_id: uuid.UUID, created_at: datetime) -> Call:
    local_hour = created_at.astimezone(PROSPECT_ZONE).hour
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
    rows = [_call(rng, DEMO_AGENCY_ID, moment) for moment in _moments(rng, now, days, calls)]
    # Another agency's calls share the tables; the demo user must never see them.
    rows += [_call(rng, OTHER_AGENCY_ID, m) for m in _moments(rng, now, days, calls // 4)]
    Call.objects.bulk_create(rows, batch_size=2_000)
    return len(rows)
