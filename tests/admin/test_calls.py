"""The calls list and a call's page: read-only, searched by exact UUIDs, filtered cheaply."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client

from analytics.admin import CallAdmin
from tests.helpers import BOOKED, CALLS_PAGE, HEATMAP_PAGE, MakeCall

pytestmark = pytest.mark.django_db


def test_the_call_list_shows_columns_and_booked_without_editing(
    staff: Client, calls_today: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    response = staff.get(CALLS_PAGE, {"q": str(agency_id)})
    assert response.status_code == 200
    html = response.content.decode()
    for column in CallAdmin.list_display:
        assert f"column-{column}" in html

    def ticks(column: str) -> list[str]:
        return re.findall(rf'<td class="field-{column}"><img [^>]*alt="(\w+)"', html)

    assert sorted(ticks("booked")) == ["False"] * 4 + ["True"]  # the queued call is a row
    assert sorted(ticks("connected")) == ["False"] * 4 + ["True"]  # joined, not "unjoined"
    assert "/admin/analytics/call/add/" not in html
    assert 'name="action"' not in html
    assert "5 calls" in html
    # UUIDs are shortened, in full on hover, and link to the list searched by them.
    assert f'<a href="?q={agency_id}" title="{agency_id}"><code>{agency_id.hex[:8]}</code>' in html
    # Times to the minute, in numbers.
    assert re.search(rf'class="field-created"><a [^>]*>{at_ten:%Y-%m-%d %H:%M}</a>', html)


def test_agency_ids_link_to_their_heatmap(
    staff: Client, make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    call = make_call()
    page = f'href="{HEATMAP_PAGE}?agency={agency_id}"'
    listed = staff.get(CALLS_PAGE).content.decode()
    assert re.search(rf'<td class="field-agency">.*{re.escape(page)}.*</td>', listed)
    detail = staff.get(f"{CALLS_PAGE}{call.id}/change/").content.decode()
    assert re.search(rf"<a {re.escape(page)}[^>]*>{agency_id}</a>", detail)
    # The link leads to the page with the agency filled in, and its heatmap drawn.
    heatmap = staff.get(HEATMAP_PAGE, {"agency": str(agency_id)})
    assert heatmap.context["form"].cleaned_data["agency"] == agency_id
    assert 'id="heatmap"' in heatmap.content.decode()


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


def test_the_date_drill_down_spans_the_first_call_to_the_last(
    staff: Client, make_call: MakeCall, today: date
) -> None:
    """Years, then months, from the calls' own first and last dates, found through the
    agency index; none before the first call, none without calls."""

    def links(part: str, **query: str) -> list[int]:
        html = staff.get(CALLS_PAGE, query).content.decode()
        return [int(n) for n in re.findall(rf'href="\?[^"]*created_at__{part}=(\d+)', html)]

    assert links("year") == []  # no calls: no drill-down
    first = datetime(today.year - 5, 6, 1, 12, tzinfo=UTC)
    make_call(created_at=first)
    make_call()
    assert links("year") == list(range(first.year, today.year + 1))
    assert sorted(set(links("month", created_at__year=str(first.year)))) == list(range(6, 13))
    this_month = links("month", created_at__year=str(today.year))
    assert sorted(set(this_month)) == list(range(1, today.month + 1))
