"""Tenant isolation: an agency's answer never depends on another agency's calls.

The agency always comes from the ``users`` row of the token's ``sub``: a
property test over generated calls of two agencies shows agency A's answer is
the same with or without agency B's calls, whatever A asks for (B's campaign
and client ids included), and a plain test shows that an agency named in the
query string, a header, a cookie or the token's own claims changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from analytics.models import Call, User
from tests.conftest import HEATMAP_URL, MakeCall, mint_token

pytestmark = pytest.mark.django_db

#: Campaigns and clients both agencies use (ids that collide across agencies), and B's own.
SHARED_CAMPAIGNS = [uuid.UUID(int=1), uuid.UUID(int=2)]
B_CAMPAIGNS = [uuid.UUID(int=3)]
SHARED_CLIENTS = [uuid.UUID(int=11), uuid.UUID(int=12)]
B_CLIENTS = [uuid.UUID(int=13)]

ANALYSES: list[Any] = [
    None,
    {},
    {"sdr": {"meeting_booked": True}},
    {"sdr": {"meeting_booked": False}},
    {"sdr": {"meeting_booked": "true"}},
]

calls = st.lists(
    st.fixed_dictionaries(
        {
            # Inside the longest window and just outside it, at any minute of the day.
            "days_ago": st.integers(0, 92),
            "minute": st.integers(0, 24 * 60 - 1),
            "status": st.sampled_from(["ended", "ended", "failed", "in_progress"]),
            "joined": st.booleans(),
            "end_reason": st.sampled_from([None, "completed", "unjoined", "voicemail"]),
            "analysis": st.sampled_from(ANALYSES),
        }
    ),
    max_size=12,
)

queries = st.fixed_dictionaries(
    {
        "period": st.sampled_from(["7d", "30d", "90d"]),
        "metric": st.sampled_from(
            ["calls", "connected", "meetings_booked", "connect_rate", "meeting_rate"]
        ),
        "tz": st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"]),
        "min_calls": st.sampled_from(["1", "2", "20"]),
        "dense": st.sampled_from(["false", "true"]),
    },
    optional={
        "campaign_id": st.sampled_from(SHARED_CAMPAIGNS + B_CAMPAIGNS).map(str),
        "client_id": st.sampled_from(SHARED_CLIENTS + B_CLIENTS).map(str),
    },
)


def insert(agency_id: uuid.UUID, specs: list[dict[str, Any]], draw_ids: st.DataObject) -> None:
    midnight = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
    campaigns = SHARED_CAMPAIGNS + B_CAMPAIGNS
    clients = SHARED_CLIENTS + B_CLIENTS
    for spec in specs:
        created_at = midnight - timedelta(days=spec["days_ago"], minutes=-spec["minute"])
        # One by one: Django's bulk insert on PostgreSQL (UNNEST of text[]) cannot fill enums.
        Call.objects.create(
            id=uuid.uuid4(),
            agency_id=agency_id,
            campaign_id=draw_ids.draw(st.sampled_from([None, *campaigns])),
            client_id=draw_ids.draw(st.sampled_from([None, *clients])),
            status=spec["status"],
            created_at=created_at,
            joined_at=created_at + timedelta(seconds=9) if spec["joined"] else None,
            end_reason=spec["end_reason"],
            analysis=spec["analysis"],
        )


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(a_calls=calls, b_calls=calls, query=queries, data=st.data())
def test_an_agencys_answer_does_not_depend_on_another_agencys_calls(
    settings: Any,
    auth_client: APIClient,
    agency_id: uuid.UUID,
    other_agency_id: uuid.UUID,
    a_calls: list[dict[str, Any]],
    b_calls: list[dict[str, Any]],
    query: dict[str, str],
    data: st.DataObject,
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 0  # every answer from the database
    # The test's transaction spans every example: each example cleans up after itself.
    try:
        insert(agency_id, a_calls, data)
        alone = auth_client.get(HEATMAP_URL, query)
        insert(other_agency_id, b_calls, data)
        beside_b = auth_client.get(HEATMAP_URL, query)
    finally:
        Call.objects.filter(agency_id__in=[agency_id, other_agency_id]).delete()
    assert alone.status_code == 200, alone.content
    assert beside_b.content == alone.content


def test_the_agency_comes_from_the_users_row_and_nothing_else(
    user: User, make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    make_call()
    for _ in range(3):
        make_call(agency_id=other_agency_id)
    other = str(other_agency_id)
    claims = {"agency_id": other, "app_metadata": {"agency_id": other}}
    client = APIClient()
    # A token that names the other agency in its claims: only the users row counts.
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id), **claims)}")
    client.cookies["agency_id"] = other
    baseline = APIClient()
    baseline.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    expected = baseline.get(HEATMAP_URL).json()
    assert sum(cell["total_calls"] for cell in expected["heatmap"]) == 1

    response = client.get(
        f"{HEATMAP_URL}?agency_id={other}&agency_id={other}&agency={other}&agencyId={other}",
        HTTP_X_AGENCY_ID=other,
        HTTP_AGENCY_ID=other,
        HTTP_X_TENANT_ID=other,
        HTTP_X_SUPABASE_AGENCY_ID=other,
        HTTP_X_FORWARDED_USER=other,
    )
    assert response.status_code == 200
    assert response.json() == expected
