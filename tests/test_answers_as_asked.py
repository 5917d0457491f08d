"""Every answer as asked (#13): a failed precondition, ``q=0`` and ``OPTIONS``.

Each was found by attacking the demo: a 412 with an empty HTML body, CSV
served to ``Accept: text/csv;q=0``, and the view's docstring sent to whoever
asked ``OPTIONS``.
"""

from __future__ import annotations

from typing import Any

import pytest
from openapi_core import Config, OpenAPI
from rest_framework.test import APIClient

from analytics.views import CallHeatmapApi
from tests.conftest import HEATMAP_CSV_URL, HEATMAP_URL, MakeCall
from tests.test_openapi import SCHEMA_FILE, decode_text, validate

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_file_path(
        str(SCHEMA_FILE), config=Config(extra_media_type_deserializers={"text/csv": decode_text})
    )


def json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "code"}
    return body


# --- 412 ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_a_failed_if_match_is_a_json_412_with_its_code(
    auth_client: APIClient, make_call: MakeCall, spec: OpenAPI, url: str
) -> None:
    make_call()
    response = auth_client.get(url, HTTP_IF_MATCH='"nope"')
    assert json_error(response, 412)["code"] == "precondition_failed"
    validate(spec, response)


def test_an_if_match_that_holds_gets_the_answer(
    auth_client: APIClient, make_call: MakeCall
) -> None:
    make_call()
    etag = auth_client.get(HEATMAP_URL)["ETag"]
    response = auth_client.get(HEATMAP_URL, HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["heatmap"][0]["total_calls"] == 1


# --- Accept with q=0 ----------------------------------------------------------------


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
    auth_client: APIClient, spec: OpenAPI, accept: str
) -> None:
    response = auth_client.get(HEATMAP_URL, HTTP_ACCEPT=accept)
    assert json_error(response, 406)["code"] == "not_acceptable"
    validate(spec, response)


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


def test_the_format_parameter_still_wins_over_accept(auth_client: APIClient) -> None:
    response = auth_client.get(HEATMAP_URL, {"format": "csv"}, HTTP_ACCEPT="text/csv;q=0")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


# --- OPTIONS --------------------------------------------------------------------------


@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_options_names_the_methods_and_no_internal_text(auth_client: APIClient, url: str) -> None:
    response = auth_client.options(url)
    assert response.status_code == 200
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    body = response.json()
    assert body["methods"] == ["GET", "HEAD", "OPTIONS"]
    assert set(body) == {"methods", "renders"}
    text = response.content.decode()
    docstring_lines = [line.strip() for line in (CallHeatmapApi.__doc__ or "").splitlines()]
    assert not [line for line in docstring_lines if len(line) > 10 and line in text]
    assert "CallHeatmap" not in text
    assert "Call Heatmap" not in text


def test_options_without_a_token_is_still_a_401(api_client: APIClient) -> None:
    assert json_error(api_client.options(HEATMAP_URL), 401)["code"] == "not_authenticated"
