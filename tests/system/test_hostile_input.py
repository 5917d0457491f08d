"""Hostile input: whatever arrives, the answer is a clean 200, 400, 401, 403 or 406, never a 500.

Two generators, both bounded so the suite stays fast:

- schemathesis reads ``openapi.yaml`` and sends schema-valid and schema-invalid
  requests with a valid token straight into the WSGI application, checking
  every answer against the contract (status, media type, body, headers), that
  valid data is accepted and invalid data refused, and that the endpoint
  refuses the same request without the token;
- hypothesis builds raw query strings (repeated keys, ``period[]=``-style
  arrays, huge values, NUL bytes, broken percent escapes, unicode and raw
  UTF-8 bytes as a WSGI server hands them over) and ``Authorization`` and
  ``Accept`` headers, and checks only the expected statuses come back, errors
  as JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from analytics.models import User
from tests.helpers import HEATMAP_CSV_URL, HEATMAP_URL, SCHEMA_FILE, MakeCall, mint_token

pytestmark = pytest.mark.django_db

#: A schema cannot list the zone database: valid requests take one of these, the rest generated.
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Europe/Berlin", "Australia/Lord_Howe"]

HYPOTHESIS = hypothesis_settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    """Django's own WSGI application, as gunicorn runs it.

    As Django's test client does, connections are not closed at the end of each
    request: the test's transaction (or in-memory SQLite database) would go with them.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(params=[HEATMAP_URL, HEATMAP_CSV_URL], ids=["json", "csv"])
def heatmap(wsgi_app: WSGIHandler, request: pytest.FixtureRequest) -> Any:
    """An operation as ``openapi.yaml`` describes it, its requests sent into ``wsgi_app``."""
    schema = schemathesis.openapi.from_path(SCHEMA_FILE)
    schema.app = wsgi_app  # as from_wsgi() does; checks' own probe requests go there too
    return schema[request.param]["GET"]


@pytest.fixture
def calls(make_call: MakeCall) -> None:
    now = datetime.now(UTC)
    make_call(created_at=now - timedelta(hours=30), joined_at=now)
    make_call(created_at=now - timedelta(days=3), analysis={"sdr": {"meeting_booked": True}})
    make_call(created_at=now - timedelta(days=40), joined_at=now, end_reason="unjoined")


@pytest.mark.usefixtures("calls")
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_schemathesis_finds_no_server_error_and_nothing_off_contract(
    heatmap: Any, token: str, mode: GenerationMode
) -> None:
    authorization = {"Authorization": f"Bearer {token}"}
    if mode is GenerationMode.POSITIVE:
        cases = st.sampled_from(ZONES).flatmap(
            lambda tz: heatmap.as_strategy(
                generation_mode=mode, headers=authorization, query={"tz": tz}
            )
        )
    else:
        cases = heatmap.as_strategy(generation_mode=mode, headers=authorization)
    statuses: set[int] = set()

    @hypothesis_settings(HYPOTHESIS, max_examples=100)
    @given(case=cases)
    def check(case: schemathesis.Case) -> None:
        response = case.call()
        statuses.add(response.status_code)
        case.validate_response(response)  # every check schemathesis has, 5xx included

    check()
    # Unknown extra parameters are ignored (a 200), as OpenAPI allows; schemathesis knows.
    assert statuses == {200} if mode is GenerationMode.POSITIVE else 400 in statuses


# --- raw query strings and headers ------------------------------------------------------

PARAMETERS = ["period", "metric", "campaign_id", "client_id", "tz", "min_calls", "dense", "format"]
KEYS = st.one_of(
    st.sampled_from(PARAMETERS),
    st.sampled_from(PARAMETERS).map(lambda name: f"{name}[]"),
    st.sampled_from(PARAMETERS).map(lambda name: f"{name}[0]"),
    st.sampled_from(["agency_id", "", "__proto__", "period.x", "PERIOD"]),
    st.text(max_size=12),
)
SOUND_VALUES = [
    *["7d", "30d", "90d", "calls", "connected", "meetings_booked", "connect_rate"],
    *["meeting_rate", "UTC", "America/New_York", "20", "1", "100000", "true", "0", "csv"],
    *["json", str(uuid.uuid4()), str(uuid.UUID(int=0))],
]
VALUES = st.one_of(
    st.sampled_from(SOUND_VALUES),
    st.sampled_from(
        [
            *["", " ", "\x00", "7d\x00", "%00", "%", "%zz", "%ff%fe", "%C0%AF", "\ufeff30d"],
            *["../../etc/passwd", "/etc/localtime", "posixrules", "Etc/GMT-3", "+05:30"],
            *["UTC\x00../etc", "-1", "1e3", "0x10", "\uff11\uff12", "true\x00", "NaN", "[]", "{}"],
            *["' OR 1=1 --", "1; DROP TABLE calls", "null", "None", "\u202e", "😀"],
        ]
    ),
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
    st.integers(1_000, 100_000).map(lambda n: "9" * n),
    st.integers(1_000, 100_000).map(lambda n: "A" * n),
)
QUERY_STRINGS = st.lists(
    st.tuples(KEYS, VALUES, st.sampled_from(["quoted", "raw"])), max_size=10
).map(
    lambda pairs: "&".join(
        f"{quote(key)}={quote(value)}"
        if how == "quoted"
        # Unescaped, as a client might send it: the server sees the UTF-8 bytes as latin-1.
        else f"{key}={value}".encode().decode("latin-1")
        for key, value, how in pairs
    )
)
ACCEPTS = st.sampled_from(
    [
        *[None, "*/*", "application/json", "text/csv", "text/html", "application/xml", ""],
        *["text/csv;q=0.1, application/json", "*/*;q=x", "\x00", "a" * 5_000],
    ]
)


@pytest.fixture
def authorizations(token: str, agency_id: uuid.UUID) -> dict[str, str | None]:
    """Headers by what they should get: 2xx (with a sound query), 401 or 403."""
    homeless = User.objects.create(id=uuid.uuid4(), agency_id=None)
    expired = datetime.now(UTC) - timedelta(hours=1)
    return {
        "valid": f"Bearer {token}",
        "no users row": f"Bearer {mint_token(sub=str(uuid.uuid4()))}",
        "no agency": f"Bearer {mint_token(sub=str(homeless.id))}",
        "expired": f"Bearer {mint_token(sub=str(uuid.uuid4()), exp=int(expired.timestamp()))}",
        "none": None,
        "huge": "Bearer " + "a" * 20_000,
        "nul": f"Bearer {token}\x00",
        "two tokens": f"Bearer {token} {token}",
    }


@pytest.mark.usefixtures("calls")
@hypothesis_settings(HYPOTHESIS, max_examples=300)
@given(
    query_string=QUERY_STRINGS,
    which=st.sampled_from(
        [
            *["valid", "valid", "valid", "no users row", "no agency", "expired", "none"],
            *["huge", "nul", "two tokens", "junk"],
        ]
    ),
    junk=st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: b.decode("latin-1"))),
    accept=ACCEPTS,
    url=st.sampled_from([HEATMAP_URL, HEATMAP_CSV_URL]),
)
def test_any_query_string_and_headers_get_a_clean_answer(
    authorizations: dict[str, str | None],
    query_string: str,
    which: str,
    junk: str,
    accept: str | None,
    url: str,
) -> None:
    headers: dict[str, Any] = {"QUERY_STRING": query_string}
    authorization = junk if which == "junk" else authorizations[which]
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    if accept is not None:
        headers["HTTP_ACCEPT"] = accept
    response = APIClient().get(url, **headers)

    assert response.status_code in (200, 400, 401, 403, 406), response.content[:500]
    if response.status_code == 200:
        assert which == "valid"
        assert response["Content-Type"] in ("application/json", "text/csv; charset=utf-8")
    else:
        assert response["Content-Type"] == "application/json", response.content[:500]
        assert isinstance(response.json(), dict)
    if which in ("no users row", "no agency") and response.status_code != 400:
        assert response.status_code in (403, 406)


def test_over_a_thousand_parameters_is_a_json_400(auth_client: APIClient) -> None:
    response = auth_client.get(HEATMAP_URL, QUERY_STRING="&".join(["period=7d"] * 1001))
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


def test_a_blank_format_is_a_400(auth_client: APIClient) -> None:
    response = auth_client.get(HEATMAP_URL, {"format": ""})
    assert response.status_code == 400
    assert response.json() == {"format": ['"" is not a valid choice.']}
