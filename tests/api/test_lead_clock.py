"""``clock=lead`` over HTTP: each call in the lead's local (day, hour), what could not be
placed, the calling hours, and the clock beside every other parameter (CSV, cache, ETag).

The numbers come from an oracle that places each call from ``phonenumbers``' own map
(``tests.helpers.oracle_lead_heatmap``), apart from the product's data and SQL. Runs on
SQLite, and on PostgreSQL with ``DATABASE_URL``. The 400s for ``clock`` are in
``test_serializers.py``, the scan itself in ``tests/heatmap/test_lead_scan.py``.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openapi_core import OpenAPI
from rest_framework.test import APIClient
from time_machine import TimeMachineFixture

from analytics.api.caching import heatmap_cache_key
from analytics.api.renderers import CSV_COLUMNS
from analytics.api.serializers import HeatmapQuerySerializer, HeatmapSerializer
from analytics.heatmap.selectors import heatmap
from analytics.heatmap.vocabulary import DAY_NAMES, Metric
from analytics.models import Call, User
from tests.helpers import (
    BOOKED,
    CAMPAIGNS,
    HEATMAP_CSV_URL,
    HEATMAP_URL,
    MakeCall,
    insert_calls,
    mint_token,
    oracle_lead_heatmap,
    random_call,
    utc,
    validate,
)

pytestmark = pytest.mark.django_db

#: The instant every test here asks at: Monday 7 December 2026, noon UTC.
NOW = utc(2026, 12, 7, 12)
TODAY = NOW.date()
NEW_YORK_NUMBER = "+1 (212) 555-0100"
NEW_YORK = ZoneInfo("America/New_York")
#: Tuesday 1 December 2026, a day of the 30-day window in every zone used here.
TUESDAY = date(2026, 12, 1)

Ask = Callable[..., Any]


@pytest.fixture
def lead_client(time_machine: TimeMachineFixture, user: User) -> APIClient:
    """A signed-in client with the clock stopped at :data:`NOW` (its token minted then)."""
    time_machine.move_to(NOW, tick=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    return client


@pytest.fixture
def ask(lead_client: APIClient) -> Ask:
    """``GET /api/dashboard-heatmap`` with ``params``: the 200's JSON body."""

    def get(**params: Any) -> Any:
        response = lead_client.get(HEATMAP_URL, params)
        assert response.status_code == 200, response.content
        return response.json()

    return get


def lead_local(day: date, hour: int, minute: int = 0, zone: ZoneInfo = NEW_YORK) -> datetime:
    """``day`` at ``hour:minute`` on the lead's wall clock, as the instant ``created_at`` holds."""
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def call_lead(
    make_call: MakeCall, at: datetime, *, total: int, won: int = 0, **fields: Any
) -> None:
    """``total`` calls to the New York lead at ``at``; the first ``won`` connected and booked."""
    for i in range(total):
        make_call(
            created_at=at,
            phone_number=NEW_YORK_NUMBER,
            joined_at=at if i < won else None,
            analysis=BOOKED if i < won else None,
            **fields,
        )


def window(tz: str, days: int) -> tuple[datetime, datetime]:
    """The period's dates in ``tz``, as instants: the window ``clock`` never changes."""
    zone = ZoneInfo(tz)
    start = datetime.combine(TODAY - timedelta(days=days - 1), time(), tzinfo=zone)
    return start, datetime.combine(TODAY + timedelta(days=1), time(), tzinfo=zone)


def cells_of(body: dict[str, Any]) -> dict[tuple[int, int], list[int]]:
    return {
        (cell["day"], cell["hour"]): [
            cell["total_calls"],
            cell["connected_calls"],
            cell["meetings_booked"],
        ]
        for cell in body["heatmap"]
    }


def hours_of(body: dict[str, Any]) -> list[int]:
    return [best["hour"] for best in body["best_times"]]


# --- the viewer's clock, unchanged --------------------------------------------------------


def test_clock_tz_is_the_default_and_answers_null_counts(ask: Ask, make_call: MakeCall) -> None:
    call_lead(make_call, lead_local(TUESDAY, 22), total=2)
    make_call(created_at=lead_local(TUESDAY, 10), phone_number=None)
    default, explicit = ask(), ask(clock="tz")
    assert default == explicit
    assert (default["clock"], default["unplaced_calls"], default["outside_calling_hours"]) == (
        "tz",
        None,
        None,
    )
    # The day and hour are UTC's, whatever the number: 22:00 in New York is 03:00 UTC.
    assert cells_of(default) == {(3, 3): [2, 0, 0], (2, 15): [1, 0, 0]}


# --- the lead's clock, against the oracle -------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "period", "campaign"),
    [
        ("UTC", "90d", None),
        ("America/Los_Angeles", "90d", None),
        ("Asia/Kolkata", "30d", None),
        ("UTC", "90d", CAMPAIGNS[1]),
    ],
)
def test_clock_lead_counts_every_call_where_the_oracle_places_it(
    ask: Ask, agency_id: uuid.UUID, tz: str, period: str, campaign: uuid.UUID | None
) -> None:
    """Numbers of every kind, at every kind of instant; ``tz`` and the filters keep the window."""
    rng = random.Random(f"lead-{tz}-{period}-{campaign}")
    calls = [random_call(rng, [agency_id, uuid.uuid4()], TODAY) for _ in range(500)]
    insert_calls(calls)
    params = {"clock": "lead", "tz": tz, "period": period, "metric": "connect_rate"}
    params["min_calls"] = "1"
    if campaign is not None:
        params["campaign_id"] = str(campaign)
    body = ask(**params)

    mine = [c for c in calls if c.agency_id == agency_id]
    if campaign is not None:
        mine = [c for c in mine if c.campaign_id == campaign]
    start, end = window(tz, int(period.removesuffix("d")))
    expected, unplaced = oracle_lead_heatmap(mine, start=start, end=end)
    assert cells_of(body) == expected
    assert body["unplaced_calls"] == unplaced > 0
    outside = sum(counts[0] for (_, hour), counts in expected.items() if not 8 <= hour < 21)
    assert body["outside_calling_hours"] == outside > 0
    assert (body["clock"], body["timezone"]) == ("lead", tz)
    assert body["best_times"]
    assert all(8 <= hour < 21 for hour in hours_of(body))


def test_the_endpoint_answers_what_the_shell_service_answers_on_the_leads_clock(
    ask: Ask, make_call: MakeCall, agency_id: uuid.UUID
) -> None:
    call_lead(make_call, lead_local(TUESDAY, 10), total=3, won=1)
    call_lead(make_call, lead_local(TUESDAY, 22), total=2)
    make_call(created_at=lead_local(TUESDAY, 11), phone_number="+1 907 555 0100")
    over_http = ask(clock="lead", tz="Europe/Paris", dense="1")
    in_the_shell = heatmap(agency_id=agency_id, clock="lead", tz="Europe/Paris", dense=True)
    assert over_http == json.loads(json.dumps(HeatmapSerializer(in_the_shell).data))
    assert (over_http["unplaced_calls"], over_http["outside_calling_hours"]) == (1, 2)
    assert len(over_http["heatmap"]) == 7 * 24
    with pytest.raises(ValueError, match="LEAD"):
        heatmap(agency_id=agency_id, clock="LEAD")


@pytest.mark.parametrize(
    ("local_time", "outside"),
    [("07:59:59.999999", 1), ("08:00:00", 0), ("20:59:59.999999", 0), ("21:00:00", 1)],
)
def test_the_calling_hours_edges_lead_local(
    ask: Ask, make_call: MakeCall, local_time: str, outside: int
) -> None:
    local = datetime.combine(TUESDAY, time.fromisoformat(local_time), tzinfo=NEW_YORK)
    make_call(created_at=local.astimezone(UTC), phone_number=NEW_YORK_NUMBER)
    body = ask(clock="lead")
    assert body["outside_calling_hours"] == outside
    assert [(c["day"], c["hour"]) for c in body["heatmap"]] == [(2, local.hour)]
    assert len(body["best_times"]) == 1 - outside


# --- the calling hours --------------------------------------------------------------------


@pytest.fixture
def biggest_at_ten_pm(make_call: MakeCall) -> None:
    """The busiest, best-connected, most-booked slot is 22:00 lead-local; 10:00 does less."""
    call_lead(make_call, lead_local(TUESDAY, 22), total=40, won=40)
    call_lead(make_call, lead_local(TUESDAY, 10), total=25, won=5)
    call_lead(make_call, lead_local(TUESDAY, 7), total=30, won=30)


@pytest.mark.usefixtures("biggest_at_ten_pm")
@pytest.mark.parametrize("metric", [metric.value for metric in Metric])
def test_best_times_never_rank_an_hour_outside_the_calling_hours(ask: Ask, metric: str) -> None:
    body = ask(clock="lead", metric=metric, min_calls="20")
    assert hours_of(body) == [10]
    assert body["outside_calling_hours"] == 70
    # The heatmap still shows every placed call, so the agency sees what it did at night.
    assert cells_of(body)[2, 22] == [40, 40, 40]
    assert cells_of(body)[2, 7] == [30, 30, 30]
    # On the viewer's clock the same calls rank as they fall: the hours are no rule there.
    assert ask(clock="tz", metric=metric, min_calls="20", tz="America/New_York")["best_times"][0][
        "hour"
    ] in (22, 7)


@pytest.mark.usefixtures("biggest_at_ten_pm")
@pytest.mark.parametrize("metric", ["calls", "meeting_rate"])
def test_without_calling_hours_every_hour_ranks(ask: Ask, settings: Any, metric: str) -> None:
    settings.ANALYTICS_CALLING_HOURS = None
    body = ask(clock="lead", metric=metric)
    assert body["outside_calling_hours"] is None
    assert body["unplaced_calls"] == 0
    assert hours_of(body) == [22, 7, 10]


@pytest.mark.usefixtures("biggest_at_ten_pm")
def test_narrower_calling_hours_narrow_the_ranking(
    ask: Ask, make_call: MakeCall, settings: Any
) -> None:
    settings.ANALYTICS_CALLING_HOURS = (9, 17)
    call_lead(make_call, lead_local(TUESDAY, 8), total=50)
    call_lead(make_call, lead_local(TUESDAY, 16, 59), total=3)
    call_lead(make_call, lead_local(TUESDAY, 17), total=60)
    body = ask(clock="lead")
    assert hours_of(body) == [10, 16]
    assert body["outside_calling_hours"] == 40 + 30 + 50 + 60


def test_best_times_may_be_empty(ask: Ask, make_call: MakeCall) -> None:
    """No slot inside the hours, or none inside them with ``min_calls`` calls."""
    call_lead(make_call, lead_local(TUESDAY, 22), total=30, won=10)
    call_lead(make_call, lead_local(TUESDAY, 12), total=5, won=5)
    assert ask(clock="lead", metric="connect_rate")["best_times"] == []
    counted = ask(clock="lead")
    assert hours_of(counted) == [12]
    assert counted["outside_calling_hours"] == 30


def test_the_answer_fits_the_contract(
    lead_client: APIClient, make_call: MakeCall, openapi_spec: OpenAPI
) -> None:
    call_lead(make_call, lead_local(TUESDAY, 22), total=2)
    make_call(created_at=lead_local(TUESDAY, 10), phone_number="")
    for clock in ("tz", "lead"):
        response = lead_client.get(HEATMAP_URL, {"clock": clock, "dense": "1"})
        validate(openapi_spec, response, request_too=True)
        csv_response = lead_client.get(HEATMAP_CSV_URL, {"clock": clock})
        validate(openapi_spec, csv_response, request_too=True)


# --- CSV ----------------------------------------------------------------------------------


def test_csv_on_the_leads_clock_says_so_in_its_name_and_holds_the_cells_only(
    lead_client: APIClient, make_call: MakeCall
) -> None:
    call_lead(make_call, lead_local(TUESDAY, 22), total=2, won=1)
    make_call(created_at=lead_local(TUESDAY, 10), phone_number=None)
    body = lead_client.get(HEATMAP_URL, {"clock": "lead"}).json()
    response = lead_client.get(HEATMAP_CSV_URL, {"clock": "lead"})
    start = (TODAY - timedelta(days=29)).isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="call-heatmap-{start}-to-{TODAY}-calls-lead.csv"'
    )
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table == [list(CSV_COLUMNS), ["2", DAY_NAMES[2], "22", "2", "1", "1", "0.5", "0.5"]]
    assert body["unplaced_calls"] == 1  # in the JSON only
    tz_file = lead_client.get(HEATMAP_CSV_URL, {"clock": "tz"})["Content-Disposition"]
    assert tz_file == f'attachment; filename="call-heatmap-{start}-to-{TODAY}-calls.csv"'


# --- the cache and the ETag ---------------------------------------------------------------


def test_each_clock_has_its_cache_entry_and_etag(
    lead_client: APIClient, make_call: MakeCall, settings: Any, agency_id: uuid.UUID
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    call_lead(make_call, lead_local(TUESDAY, 22), total=2)
    make_call(created_at=lead_local(TUESDAY, 10), phone_number="(212) 555-0100")
    lead = lead_client.get(HEATMAP_URL, {"clock": "lead", "tz": "Asia/Kolkata"})
    viewer = lead_client.get(HEATMAP_URL, {"clock": "tz", "tz": "Asia/Kolkata"})
    assert lead["ETag"] != viewer["ETag"]
    assert lead.json() != viewer.json()

    # The second asking is answered from the cache: the same body, counts and clock.
    make_call(created_at=lead_local(TUESDAY, 10), phone_number=NEW_YORK_NUMBER)
    again = lead_client.get(HEATMAP_URL, {"clock": "lead", "tz": "Asia/Kolkata"})
    assert again.json() == lead.json()
    assert (again.json()["clock"], again.json()["unplaced_calls"]) == ("lead", 1)
    assert again["ETag"] == lead["ETag"]

    not_modified = lead_client.get(
        HEATMAP_URL, {"clock": "lead", "tz": "Asia/Kolkata"}, HTTP_IF_NONE_MATCH=lead["ETag"]
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    # The other clock's ETag does not match this one's answer.
    other = lead_client.get(
        HEATMAP_URL, {"clock": "lead", "tz": "Asia/Kolkata"}, HTTP_IF_NONE_MATCH=viewer["ETag"]
    )
    assert other.status_code == 200


def test_the_cache_key_differs_between_clocks() -> None:
    """Every other parameter the same; the calling hours go in only with the lead's clock."""
    keys = {}
    for clock in ("tz", "lead"):
        params = HeatmapQuerySerializer(data={"clock": clock, "tz": "Europe/Paris"})
        assert params.is_valid()
        keys[clock] = heatmap_cache_key(agency_id=uuid.UUID(int=7), query=params.query)
    assert keys["tz"] != keys["lead"]


def test_a_narrower_setting_is_another_cache_entry(
    ask: Ask, make_call: MakeCall, settings: Any
) -> None:
    settings.ANALYTICS_HEATMAP_CACHE_TTL = 60
    call_lead(make_call, lead_local(TUESDAY, 8), total=3)
    assert ask(clock="lead")["outside_calling_hours"] == 0
    settings.ANALYTICS_CALLING_HOURS = (9, 17)
    assert ask(clock="lead")["outside_calling_hours"] == 3


def test_the_lead_clock_reads_no_other_agencys_calls(
    ask: Ask, make_call: MakeCall, other_agency_id: uuid.UUID
) -> None:
    call_lead(make_call, lead_local(TUESDAY, 22), total=1)
    make_call(created_at=lead_local(TUESDAY, 22), agency_id=other_agency_id, phone_number=None)
    call_lead(make_call, lead_local(TUESDAY, 9), total=1, agency_id=other_agency_id)
    make_call(created_at=lead_local(TUESDAY, 9), phone_number=NEW_YORK_NUMBER, status="queued")
    body = ask(clock="lead")
    assert cells_of(body) == {(2, 22): [1, 0, 0]}
    assert (body["unplaced_calls"], body["outside_calling_hours"]) == (0, 1)
    assert Call.objects.count() == 4
