"""``analytics.api.renderers``: CSV, and how a request picks JSON or CSV.

The heatmap as a spreadsheet file, from ``?format=csv``, ``Accept: text/csv`` or the CSV
path; formats it does not speak; ``q=0`` in ``Accept``; and every error staying JSON when
CSV was asked for. The admin page's CSV: ``tests/admin/test_heatmap.py``.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from openapi_core import OpenAPI
from rest_framework.test import APIClient

from analytics.api.renderers import CSV_COLUMNS, heatmap_csv
from analytics.heatmap.vocabulary import DAY_NAMES
from analytics.models import User
from tests.helpers import (
    CALLS_QUERY_FAILED,
    HEATMAP_CSV_URL,
    HEATMAP_URL,
    JWKSServer,
    Keys,
    MakeCall,
    assert_json_error,
    claims,
    mint_token,
    table_away,
    validate,
)

pytestmark = pytest.mark.django_db

CSV_TYPE = "text/csv; charset=utf-8"


def rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def as_csv_row(cell: dict[str, object]) -> dict[str, str]:
    """A JSON heatmap entry as the CSV writes it."""
    row = {**cell, "day_name": DAY_NAMES[int(str(cell["day"]))]}
    return {column: "" if row[column] is None else str(row[column]) for column in CSV_COLUMNS}


# --- asking for CSV -----------------------------------------------------------------------


def test_format_csv_answers_one_row_per_cell(
    auth_client: APIClient, calls_at_nine_and_two: None, today: date
) -> None:
    response = auth_client.get(HEATMAP_URL, {"format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"] == CSV_TYPE
    start = (today - timedelta(days=29)).isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="call-heatmap-{start}-to-{today.isoformat()}-calls.csv"'
    )
    day = today.isoweekday() % 7
    assert response.content.decode() == (
        "day,day_name,hour,total_calls,connected_calls,meetings_booked,connect_rate,meeting_rate\r\n"
        f"{day},{today:%A},9,3,2,1,0.6667,0.3333\r\n"
        f"{day},{today:%A},14,1,0,0,0.0,0.0\r\n"
    )


def test_accept_text_csv_answers_csv(auth_client: APIClient, calls_at_nine_and_two: None) -> None:
    response = auth_client.get(HEATMAP_URL, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == CSV_TYPE
    assert response["Content-Disposition"].startswith('attachment; filename="call-heatmap-')
    assert [row["hour"] for row in rows(response.content)] == ["9", "14"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"metric": "meeting_rate", "min_calls": "1"},
        {"tz": "Asia/Kolkata", "period": "7d", "metric": "connected"},
        {"dense": "true"},
    ],
)
def test_csv_holds_the_json_entries(
    auth_client: APIClient, calls_at_nine_and_two: None, options: dict[str, str]
) -> None:
    body = auth_client.get(HEATMAP_URL, options).json()
    response = auth_client.get(HEATMAP_URL, {**options, "format": "csv"})
    assert rows(response.content) == [as_csv_row(cell) for cell in body["heatmap"]]
    assert f"-{body['metric']}.csv" in response["Content-Disposition"]
    assert (
        f"{body['period']['start_date']}-to-{body['period']['end_date']}"
        in (response["Content-Disposition"])
    )


def test_a_rate_without_calls_is_an_empty_field(
    auth_client: APIClient, calls_at_nine_and_two: None
) -> None:
    table = rows(auth_client.get(HEATMAP_URL, {"format": "csv", "dense": "1"}).content)
    assert len(table) == 7 * 24
    assert [row["day_name"] for row in table[::24]] == list(DAY_NAMES)
    quiet = next(row for row in table if row["total_calls"] == "0")
    assert quiet["connect_rate"] == quiet["meeting_rate"] == ""


def test_no_calls_is_the_header_alone(auth_client: APIClient) -> None:
    response = auth_client.get(HEATMAP_URL, {"format": "csv"})
    assert response.status_code == 200
    assert response.content == (",".join(CSV_COLUMNS) + "\r\n").encode()


def test_the_format_parameter_wins_over_accept(
    auth_client: APIClient, calls_at_nine_and_two: None
) -> None:
    csv_response = auth_client.get(HEATMAP_URL, {"format": "csv"}, HTTP_ACCEPT="application/json")
    assert csv_response["Content-Type"] == CSV_TYPE
    json_response = auth_client.get(HEATMAP_URL, {"format": "json"}, HTTP_ACCEPT="text/csv")
    assert json_response["Content-Type"] == "application/json"
    assert "Content-Disposition" not in json_response


def test_json_stays_the_default(auth_client: APIClient, calls_at_nine_and_two: None) -> None:
    for accept in ("*/*", "text/html,application/xhtml+xml,*/*;q=0.8", "application/json"):
        response = auth_client.get(HEATMAP_URL, HTTP_ACCEPT=accept)
        assert response["Content-Type"] == "application/json", accept
        assert "Content-Disposition" not in response


def test_head_answers_the_csv_headers_without_a_body(
    auth_client: APIClient, calls_at_nine_and_two: None
) -> None:
    response = auth_client.head(HEATMAP_URL, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == CSV_TYPE
    assert response["Content-Disposition"].startswith("attachment;")
    assert response.content == b""


# --- the CSV path -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"metric": "meeting_rate", "min_calls": "1", "dense": "1"}, {"tz": "Asia/Kolkata"}],
)
def test_the_csv_path_answers_what_format_csv_does(
    auth_client: APIClient, calls_at_nine_and_two: None, options: dict[str, str]
) -> None:
    by_param = auth_client.get(HEATMAP_URL, {**options, "format": "csv"})
    by_path = auth_client.get(HEATMAP_CSV_URL, options)
    assert by_path.status_code == 200
    assert by_path["Content-Type"] == CSV_TYPE
    assert by_path["Content-Disposition"] == by_param["Content-Disposition"]
    assert by_path.content == by_param.content
    assert by_path["ETag"] == by_param["ETag"]  # one representation, whichever way it was asked


@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"data": {"format": "json"}}, id="format=json"),
        pytest.param({"data": {"format": "xml"}}, id="format=xml"),
        pytest.param({"HTTP_ACCEPT": "application/json"}, id="Accept json"),
        pytest.param({"HTTP_ACCEPT": "application/xml"}, id="Accept xml"),
    ],
)
def test_the_csv_path_is_csv_whatever_format_or_accept_say(
    auth_client: APIClient, calls_at_nine_and_two: None, how: dict[str, object]
) -> None:
    data = how.get("data", {})
    headers = {key: value for key, value in how.items() if key != "data"}
    response = auth_client.get(HEATMAP_CSV_URL, data, **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == CSV_TYPE
    assert [row["hour"] for row in rows(response.content)] == ["9", "14"]


def test_head_on_the_csv_path_answers_the_csv_headers(
    auth_client: APIClient, calls_at_nine_and_two: None
) -> None:
    response = auth_client.head(HEATMAP_CSV_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == CSV_TYPE
    assert response["Content-Disposition"].startswith('attachment; filename="call-heatmap-')
    assert response.content == b""


# --- formats it does not speak ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "CSV", "api", "csv\x00", "../csv"])
def test_an_unknown_format_is_a_400_naming_the_field(auth_client: APIClient, fmt: str) -> None:
    response = auth_client.get(HEATMAP_URL, {"format": fmt})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"format": [f'"{fmt}" is not a valid choice.']}


def test_an_unknown_format_is_refused_before_authentication(api_client: APIClient) -> None:
    """Content negotiation comes first in DRF, as it did for its own 404 here."""
    response = api_client.get(HEATMAP_URL, {"format": "xml"})
    assert response.status_code == 400
    assert response.json() == {"format": ['"xml" is not a valid choice.']}


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (HEATMAP_URL, "format=json&format=csv"),
        (HEATMAP_URL, "format=csv&format=csv"),
        (HEATMAP_URL, "format=csv&format="),
        (HEATMAP_CSV_URL, "format=json&format=csv"),
    ],
)
def test_a_repeated_format_is_a_400_like_any_repeated_parameter(
    auth_client: APIClient, url: str, query: str
) -> None:
    """It was answered as its last value; refused before the token, as any bad ``format``."""
    response = APIClient().get(f"{url}?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    repeated = auth_client.get(f"{HEATMAP_URL}?period=7d&period=7d").json()
    assert response.json() == {"format": repeated["period"]}
    assert repeated == {"period": ["Give this parameter once."]}


def test_an_accept_header_it_cannot_meet_is_406_json(auth_client: APIClient) -> None:
    response = auth_client.get(HEATMAP_URL, HTTP_ACCEPT="application/xml")
    assert assert_json_error(response, 406) == {
        "detail": "Could not satisfy the request Accept header.",
        "code": "not_acceptable",
    }


# --- errors stay JSON when CSV was asked for ----------------------------------------------

ASK_FOR_CSV = [
    pytest.param({"data": {"format": "csv"}}, id="format=csv"),
    pytest.param({"HTTP_ACCEPT": "text/csv"}, id="Accept"),
    pytest.param({"path": HEATMAP_CSV_URL}, id="csv path"),
]


def ask(client: APIClient, how: dict[str, object], method: str = "get", **params: str):
    data = {**params, **how.get("data", {})}  # type: ignore[dict-item]
    url = str(how.get("path", HEATMAP_URL))
    headers = {key: value for key, value in how.items() if key not in ("data", "path")}
    if method == "get":
        return client.get(url, data, **headers)
    # Query string, as a browser or fetch() would send it on a POST.
    query = "&".join(f"{key}={value}" for key, value in data.items())
    return getattr(client, method)(f"{url}?{query}", **headers)


@pytest.mark.parametrize("how", ASK_FOR_CSV)
def test_bad_parameters_are_a_json_400(auth_client: APIClient, how: dict[str, object]) -> None:
    response = ask(
        auth_client,
        how,
        period="5d",
        campaign_id="1 OR 1=1",
        client_id="'; DROP TABLE calls; --",
        tz="../../etc/passwd",
        min_calls="0",
        dense="yes",
    )
    body = assert_json_error(response, 400)
    assert set(body) == {"period", "campaign_id", "client_id", "tz", "min_calls", "dense"}


@pytest.mark.parametrize("how", ASK_FOR_CSV)
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "not_authenticated"),
        ("Bearer not-a-jwt", "token_malformed"),
        ("Basic dXNlcjpwYXNz", "not_authenticated"),
    ],
)
def test_a_missing_or_bad_token_is_a_json_401(
    api_client: APIClient, how: dict[str, object], authorization: str | None, code: str | None
) -> None:
    if authorization:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)
    body = assert_json_error(ask(api_client, how), 401)
    assert body.get("code") == code


@pytest.mark.parametrize("how", ASK_FOR_CSV)
def test_a_user_without_agency_is_a_json_403(api_client: APIClient, how: dict[str, object]) -> None:
    user = User.objects.create(id=uuid.uuid4(), agency_id=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    assert assert_json_error(ask(api_client, how), 403)["code"] == "user_without_agency"


@pytest.mark.parametrize("how", ASK_FOR_CSV)
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_other_methods_are_a_json_405(
    auth_client: APIClient, how: dict[str, object], method: str
) -> None:
    response = ask(auth_client, how, method=method)
    body = assert_json_error(response, 405)
    assert body == {
        "detail": f'Method "{method.upper()}" not allowed.',
        "code": "method_not_allowed",
    }
    assert response["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("how", ASK_FOR_CSV)
def test_a_failed_calls_query_is_a_json_500(
    auth_client: APIClient,
    make_call: MakeCall,
    how: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_call()
    with table_away("calls"), caplog.at_level(logging.CRITICAL, logger="analytics"):
        response = ask(auth_client, how)
    assert assert_json_error(response, 500) == CALLS_QUERY_FAILED
    assert ask(auth_client, how).status_code == 200


@pytest.mark.parametrize("how", ASK_FOR_CSV)
def test_an_unreachable_jwks_is_a_json_503(
    api_client: APIClient,
    user: User,
    project_keys: Keys,
    supabase_project: JWKSServer,
    how: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = project_keys.es256.sign(claims(sub=str(user.id)))
    supabase_project.stop()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    with caplog.at_level(logging.CRITICAL, logger="analytics"):
        response = ask(api_client, how)
    assert assert_json_error(response, 503)["code"] == "jwks_unavailable"


@pytest.mark.parametrize("url", [HEATMAP_URL + "?format=csv", HEATMAP_CSV_URL])
def test_options_with_csv_asked_is_json(auth_client: APIClient, url: str) -> None:
    response = auth_client.options(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["methods"] == ["GET", "HEAD", "OPTIONS"]


def test_the_csv_function_takes_the_serialized_body() -> None:
    body = {
        "period": {"start_date": "2026-03-01", "end_date": "2026-03-07"},
        "metric": "calls",
        "heatmap": [
            {
                "day": 6,
                "hour": 23,
                "total_calls": 0,
                "connected_calls": 0,
                "meetings_booked": 0,
                "connect_rate": None,
                "meeting_rate": None,
            }
        ],
    }
    assert heatmap_csv(body).splitlines()[1] == "6,Saturday,23,0,0,0,,"


# --- Accept with q=0 (#13: CSV was once served to ``Accept: text/csv;q=0``) ----------------


def json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "code"}
    return body


@pytest.mark.parametrize(
    "accept",
    [
        "text/csv;q=0",
        "text/csv; q=0.000",
        "application/json;q=0",
        "application/json;q=0, text/csv;q=0",
        "*/*;q=0",
        "text/*;q=0.0",
    ],
)
def test_what_accept_refuses_with_q_0_is_a_406(
    auth_client: APIClient, openapi_spec: OpenAPI, accept: str
) -> None:
    response = auth_client.get(HEATMAP_URL, HTTP_ACCEPT=accept)
    assert json_error(response, 406)["code"] == "not_acceptable"
    validate(openapi_spec, response)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("text/csv;q=0, application/json", "application/json"),
        ("*/*, text/csv;q=0", "application/json"),
        ("text/*, text/csv;q=0", None),
        ("application/json;q=0, */*", "text/csv"),
        ("*/*;q=0, text/csv", "text/csv"),
        ("text/csv;q=0.5", "text/csv"),
        ("text/csv;q=oops", "text/csv"),
    ],
)
def test_q_0_refuses_only_the_types_it_names(
    auth_client: APIClient, accept: str, media_type: str | None
) -> None:
    response = auth_client.get(HEATMAP_URL, HTTP_ACCEPT=accept)
    if media_type is None:  # text/* matches CSV only, and CSV is refused
        assert json_error(response, 406)["code"] == "not_acceptable"
    else:
        assert response.status_code == 200
        assert response["Content-Type"].split(";")[0] == media_type


def test_the_format_parameter_still_wins_over_a_q_0_accept(auth_client: APIClient) -> None:
    response = auth_client.get(HEATMAP_URL, {"format": "csv"}, HTTP_ACCEPT="text/csv;q=0")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
