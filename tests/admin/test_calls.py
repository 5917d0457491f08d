"""The calls list and a call's page: read-only, searched by exact UUIDs, filtered cheaply."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from django.test import Client

from analytics.admin import CallAdmin
from tests.helpers import BOOKED, CALLS_PAGE, MakeCall

pytestmark = pytest.mark.django_db


def test_the_call_list_shows_columns_and_booked_without_editing(
    staff: Client, calls_today: None, agency_id: uuid.UUID
) -> None:
    response = staff.get(CALLS_PAGE, {"q": str(agency_id)})
    assert response.status_code == 200
    html = response.content.decode()
    for column in CallAdmin.list_display:
        assert f"column-{column}" in html
    assert html.count('alt="True"') == 1  # one call booked
    assert html.count('alt="False"') == 4  # the queued call counts here, as a row
    assert "/admin/analytics/call/add/" not in html
    assert 'name="action"' not in html
    assert "5 calls" in html
    # UUIDs are shortened, in full on hover, and link to the list searched by them.
    assert f'<a href="?q={agency_id}" title="{agency_id}"><code>{agency_id.hex[:8]}</code>' in html


def test_the_call_list_searches_exact_uuids_only(
    staff: Client, make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    campaign = uuid.uuid4()
    call = make_call(campaign_id=campaign)
    make_call()

    def found(term: str) -> int:
        response = staff.get(CALLS_PAGE, {"q": term})
        assert response.status_code == 200
        return len(response.context["cl"].result_list)

    assert found(str(call.id)) == 1
    assert found(str(call.id).upper()) == 1
    assert found(str(campaign)) == 1
    assert found(str(agency_id)) == 2
    assert found(str(agency_id)[:8]) == 0  # no prefix matching
    assert found("'; DROP TABLE calls; --") == 0
    assert found("not-a-uuid") == 0


def test_the_call_list_filters_by_status_end_reason_and_date(
    staff: Client, make_call: MakeCall, at_ten: datetime
) -> None:
    make_call(end_reason=None)
    make_call(end_reason="unjoined")
    make_call(status="failed", created_at=at_ten - timedelta(days=400))

    def count(**query: str) -> int:
        response = staff.get(CALLS_PAGE, query)
        assert response.status_code == 200, response.get("Location")
        return len(response.context["cl"].result_list)

    assert count() == 3
    assert count(status="ended") == 2
    assert count(end_reason="unjoined") == 1
    assert count(end_reason__isnull="True") == 2
    year, month, day = str(at_ten.year), str(at_ten.month), str(at_ten.day)
    assert count(created_at__year=year) == 2
    assert count(created_at__year=year, created_at__month=month, created_at__day=day) == 2
    html = staff.get(CALLS_PAGE).content.decode()
    assert f"?created_at__year={year}" in html  # the calendar drill-down
    for choice in ('href="?status=ended"', 'href="?end_reason=unjoined"'):
        assert choice in html


def test_the_call_detail_is_read_only(staff: Client, make_call: MakeCall) -> None:
    call = make_call(analysis=BOOKED)
    response = staff.get(f"{CALLS_PAGE}{call.id}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "meeting_booked" in html
    assert 'name="_save"' not in html
    assert staff.get(f"{CALLS_PAGE}{call.id}/delete/").status_code == 403
    assert staff.get(f"{CALLS_PAGE}add/").status_code == 403
