"""``analytics.api.schema``: openapi.yaml is what the code generates, and real answers fit it.

The SPA team reads and diffs ``openapi.yaml``. These tests regenerate it with
the command the README gives, pin its shape, validate real responses of every status
against it with openapi-core, and check the demo serves it and Swagger UI from local files.

Its shape, its prose aside, is the contract: it changes only where an issue says. The
shape is everything but descriptions, summaries and examples, lists compared as sets:
paths, operations, parameters, enums, bounds, nullability, required fields, response
schemas, media types, headers and codes. ``openapi_shape.json`` beside this file holds it.
When an issue changes the contract, regenerate the file and commit both:

    UPDATE_CONTRACT_SHAPE=1 python -m pytest tests/api/test_schema.py -k prose_and_order
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.validation.response.exceptions import (
    DataValidationError,
    InvalidData,
    MissingRequiredHeader,
)
from rest_framework.test import APIClient

from analytics.api.schema import AUTHENTICATION_CODES
from analytics.api.serializers import (
    BestTimeSerializer,
    HeatmapCellSerializer,
    HeatmapQuerySerializer,
)
from analytics.exceptions import MESSAGES
from analytics.heatmap.vocabulary import Metric, Period
from analytics.models import User
from tests.helpers import (
    CALLS_QUERY_FAILED,
    HEATMAP_CSV_URL,
    HEATMAP_URL,
    REGENERATE,
    SCHEMA_FILE,
    JWKSServer,
    Keys,
    MakeCall,
    claims,
    mint_token,
    run_demo,
    table_away,
    validate,
)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SCHEMA_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def operation(schema: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = schema["paths"]["/api/dashboard-heatmap"]["get"]
    return found


@pytest.fixture(scope="module")
def csv_operation(schema: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = schema["paths"]["/api/dashboard-heatmap.csv"]["get"]
    return found


# --- the committed file -----------------------------------------------------------------


def test_the_committed_schema_is_the_generated_one() -> None:
    generated = run_demo("manage.py", *REGENERATE.split()[2:-2])
    assert generated == SCHEMA_FILE.read_text(), (
        f"openapi.yaml is out of date: run `{REGENERATE}` and commit it."
    )


def test_the_schema_is_valid_openapi(openapi_spec: OpenAPI) -> None:
    openapi_spec.check_spec()  # openapi-spec-validator, as the SPA's tooling would read it


# --- its shape: the contract, its prose aside -------------------------------------------

SHAPE_FILE = Path(__file__).with_name("openapi_shape.json")
PROSE = frozenset({"description", "summary", "example", "examples"})


def contract_shape(node: Any) -> Any:
    """``node`` without prose, its lists in a canonical order."""
    if isinstance(node, dict):
        return {key: contract_shape(value) for key, value in node.items() if key not in PROSE}
    if isinstance(node, list):
        items = [contract_shape(value) for value in node]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return node


def test_the_contract_changes_only_in_prose_and_order(schema: dict[str, Any]) -> None:
    shape = contract_shape(schema)
    if os.environ.get("UPDATE_CONTRACT_SHAPE"):
        SHAPE_FILE.write_text(json.dumps(shape, indent=1, sort_keys=True) + "\n")
    assert shape == json.loads(SHAPE_FILE.read_text()), (
        "openapi.yaml's contract changed; if an issue asks for it, see this module's docstring."
    )


def min_calls_schema(document: dict[str, Any]) -> dict[str, Any]:
    parameters = document["paths"]["/api/dashboard-heatmap"]["get"]["parameters"]
    found: dict[str, Any] = next(p for p in parameters if p["name"] == "min_calls")["schema"]
    return found


def test_a_new_bound_changes_the_contract_shape(schema: dict[str, Any]) -> None:
    changed = copy.deepcopy(schema)
    min_calls_schema(changed)["maximum"] += 1
    assert contract_shape(changed) != contract_shape(schema)


def test_new_prose_and_a_new_order_do_not_change_the_contract_shape(
    schema: dict[str, Any],
) -> None:
    changed = copy.deepcopy(schema)
    min_calls_schema(changed)["description"] = "Reworded."
    changed["components"]["schemas"]["MetricEnum"]["enum"].reverse()
    assert contract_shape(changed) == contract_shape(schema)


# --- what it says -----------------------------------------------------------------------


def test_every_query_parameter_is_documented_with_its_values(operation: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(parameters) == {*HeatmapQuerySerializer().fields, "format"}
    fields = HeatmapQuerySerializer().fields
    assert all(field.help_text for field in fields.values())  # the parameters' one description
    assert all(p["description"] for p in parameters.values())
    assert all(parameters[name]["description"] == field.help_text for name, field in fields.items())
    assert not any(p.get("required") for p in parameters.values())
    assert parameters["period"]["schema"]["enum"] == [p.value for p in Period]
    assert parameters["period"]["schema"]["default"] == "30d"
    assert parameters["metric"]["schema"]["enum"] == [m.value for m in Metric]
    assert parameters["metric"]["schema"]["default"] == "calls"
    assert parameters["tz"]["schema"]["default"] == "UTC"
    min_calls = parameters["min_calls"]["schema"]
    assert (min_calls["minimum"], min_calls["maximum"], min_calls["default"]) == (1, 100_000, 20)
    assert parameters["dense"]["schema"] == {"type": "boolean", "default": False}
    assert parameters["campaign_id"]["schema"]["format"] == "uuid"
    assert parameters["client_id"]["schema"]["format"] == "uuid"
    # CSV has a path of its own; `?format=csv` still works here, said in prose only.
    assert parameters["format"]["schema"]["enum"] == ["json"]
    assert "format=csv" in parameters["format"]["description"]
    assert "/api/dashboard-heatmap.csv" in operation["description"]


def test_the_csv_operation_takes_the_same_query_but_format(
    operation: dict[str, Any], csv_operation: dict[str, Any]
) -> None:
    assert csv_operation["operationId"] == "dashboard_heatmap_csv"
    assert operation["operationId"] == "dashboard_heatmap"
    assert csv_operation["parameters"] == [
        p for p in operation["parameters"] if p["name"] != "format"
    ]


def test_every_status_is_documented(
    operation: dict[str, Any], csv_operation: dict[str, Any]
) -> None:
    """One media type per answer: a typed client reads each 200 as what it is."""
    responses = operation["responses"]
    assert set(responses) == {"200", "400", "401", "403", "405", "406", "412", "429", "500", "503"}
    assert set(responses["200"]["content"]) == {"application/json"}
    for status in set(responses) - {"200"}:
        assert set(responses[status]["content"]) == {"application/json"}, status
    assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert responses["405"]["headers"]["Allow"]["required"] is True
    assert "headers" not in responses["200"]

    # The CSV path picks CSV whatever `Accept` says, so it has no 406; its errors are the same.
    csv_responses = csv_operation["responses"]
    assert set(csv_responses) == set(responses) - {"406"}
    assert set(csv_responses["200"]["content"]) == {"text/csv"}
    assert csv_responses["200"]["headers"]["Content-Disposition"]["required"] is True
    for status in set(csv_responses) - {"200", "400"}:
        assert csv_responses[status] == responses[status], status


def test_the_401_codes_are_the_token_errors(operation: dict[str, Any]) -> None:
    documented = operation["responses"]["401"]["content"]["application/json"]["schema"]
    codes = set(documented["properties"]["code"]["enum"])
    assert codes == set(AUTHENTICATION_CODES)
    assert {"token_expired", "token_bad_signature", "authorization_header_invalid"} <= codes
    assert "not_authenticated" in codes  # no Bearer token at all
    assert {code for code in MESSAGES if code.startswith("token_")} <= codes  # every token error
    assert "session_ended" in codes


def test_the_bearer_scheme_secures_the_endpoint(
    schema: dict[str, Any], operation: dict[str, Any], csv_operation: dict[str, Any]
) -> None:
    assert operation["security"] == [{"SupabaseAccessToken": []}]
    assert csv_operation["security"] == operation["security"]
    scheme = schema["components"]["securitySchemes"]["SupabaseAccessToken"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")


def test_the_body_components_name_every_serializer_field(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    assert set(components["HeatmapCell"]["properties"]) == set(HeatmapCellSerializer().fields)
    assert set(components["BestTime"]["properties"]) == set(BestTimeSerializer().fields)
    assert "total_calls" not in components["BestTime"]["required"]


# --- real answers fit it ----------------------------------------------------------------


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 15, tzinfo=UTC)


@pytest.fixture
def calls(make_call: MakeCall, today: date) -> None:
    make_call(created_at=at(today, 9), joined_at=at(today, 9))
    make_call(
        created_at=at(today, 9), joined_at=at(today, 9), analysis={"sdr": {"meeting_booked": True}}
    )
    make_call(created_at=at(today, 14))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "params"),
    [
        (HEATMAP_URL, {}),
        (HEATMAP_URL, {"metric": "meeting_rate", "min_calls": "1"}),
        (
            HEATMAP_URL,
            {"metric": "connect_rate", "min_calls": "1", "tz": "America/New_York", "period": "90d"},
        ),
        (HEATMAP_URL, {"dense": "true", "format": "json", "campaign_id": str(uuid.UUID(int=1))}),
        # CSV is its own operation; `?format=csv` on the JSON path: test_renderers.py.
        (HEATMAP_CSV_URL, {}),
        (HEATMAP_CSV_URL, {"dense": "true", "metric": "meetings_booked"}),
    ],
)
def test_a_200_fits(
    openapi_spec: OpenAPI, auth_client: APIClient, calls: None, url: str, params: dict[str, str]
) -> None:
    response = auth_client.get(url, params)
    assert response.status_code == 200
    validate(openapi_spec, response, request_too=True)


@pytest.mark.django_db
def test_format_csv_on_the_json_path_is_off_that_operation(
    openapi_spec: OpenAPI, auth_client: APIClient
) -> None:
    """Honoured for old links, but not the JSON operation's answer: a typed client never sees it."""
    response = auth_client.get(HEATMAP_URL, {"format": "csv"})
    assert response.status_code == 200
    with pytest.raises(DataValidationError, match="mimetype not found: text/csv"):
        validate(openapi_spec, response)


@pytest.mark.django_db
def test_rate_best_times_carry_total_calls_and_fit(
    openapi_spec: OpenAPI, auth_client: APIClient, calls: None
) -> None:
    response = auth_client.get(HEATMAP_URL, {"metric": "connect_rate", "min_calls": "1"})
    assert "total_calls" in response.json()["best_times"][0]
    validate(openapi_spec, response)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"period": "5d"},
        {"tz": "+05:30", "min_calls": "0", "dense": "maybe"},
        {"campaign_id": "1 OR 1=1", "format": "csv"},
        {"format": "xml"},
        {"client_id": ""},
    ],
)
@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_a_400_fits(
    openapi_spec: OpenAPI, auth_client: APIClient, params: dict[str, str], url: str
) -> None:
    if url == HEATMAP_CSV_URL and set(params) == {"format"}:
        params = {"period": "1y", "format": "xml"}  # the path wins: `format` is not read there
    response = auth_client.get(url, params)
    assert response.status_code == 400
    validate(openapi_spec, response)


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Bearer one two"])
@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_a_401_fits(
    openapi_spec: OpenAPI, api_client: APIClient, authorization: str | None, url: str
) -> None:
    if authorization:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)
    response = api_client.get(url)
    assert response.status_code == 401
    validate(openapi_spec, response)


@pytest.mark.django_db
def test_an_expired_token_401_fits(
    openapi_spec: OpenAPI, api_client: APIClient, user: User
) -> None:
    token = mint_token(sub=str(user.id), exp=1_000_000_000)
    response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["code"] == "token_expired"
    validate(openapi_spec, response)


@pytest.mark.django_db
@pytest.mark.parametrize("agency", ["no row", "no agency"])
@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_a_403_fits(openapi_spec: OpenAPI, api_client: APIClient, agency: str, url: str) -> None:
    user_id = uuid.uuid4()
    if agency == "no agency":
        User.objects.create(id=user_id, agency_id=None)
    response = api_client.get(url, HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user_id))}")
    assert response.status_code == 403
    validate(openapi_spec, response)


@pytest.mark.django_db
@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_a_405_fits(openapi_spec: OpenAPI, auth_client: APIClient, url: str) -> None:
    response = auth_client.post(url)
    assert response.status_code == 405
    validate(openapi_spec, response)


@pytest.mark.django_db
def test_a_406_fits(openapi_spec: OpenAPI, auth_client: APIClient) -> None:
    response = auth_client.get(HEATMAP_URL, HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    validate(openapi_spec, response)


@pytest.mark.django_db
@pytest.mark.parametrize("url", [HEATMAP_URL, HEATMAP_CSV_URL])
def test_a_500_fits(
    openapi_spec: OpenAPI, auth_client: APIClient, caplog: pytest.LogCaptureFixture, url: str
) -> None:
    with table_away("calls"), caplog.at_level(logging.CRITICAL, logger="analytics"):
        response = auth_client.get(url)
    assert response.json() == CALLS_QUERY_FAILED
    validate(openapi_spec, response)


@pytest.mark.django_db
def test_a_503_fits(
    openapi_spec: OpenAPI,
    api_client: APIClient,
    user: User,
    project_keys: Keys,
    supabase_project: JWKSServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    supabase_project.stop()
    token = project_keys.es256.sign(claims(sub=str(user.id)))
    with caplog.at_level(logging.CRITICAL, logger="analytics"):
        response = api_client.get(HEATMAP_URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 503
    validate(openapi_spec, response)


@pytest.mark.django_db
def test_an_off_contract_answer_is_caught(openapi_spec: OpenAPI, auth_client: APIClient) -> None:
    """The validation has teeth: the same 200 with a field renamed fails it."""
    response = auth_client.get(HEATMAP_URL)
    body = response.json()
    body["when"] = body.pop("best_times")
    response.content = json.dumps(body).encode()
    with pytest.raises(InvalidData, match="'best_times' is a required property"):
        validate(openapi_spec, response)


# --- the demo serves it -----------------------------------------------------------------

DEMO_PROBE = """
import json, django
django.setup()
from django.contrib.staticfiles import finders
from django.test import Client
client = Client(HTTP_HOST="localhost")
schema = client.get("/api/schema/")
docs = client.get("/api/docs/")
html = docs.content.decode()
import re
assets = re.findall(r'(?:src|href)="([^"]+)"', html)
print(json.dumps({
    "schema_status": schema.status_code,
    "schema_type": schema["Content-Type"],
    "schema": schema.content.decode(),
    "docs_status": docs.status_code,
    "assets": assets,
    "found": [
        bool(finders.find(a.removeprefix("/static/")))
        for a in assets if a.startswith("/static/")
    ],
}))
"""


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    probe: dict[str, Any] = json.loads(run_demo("-c", DEMO_PROBE))
    return probe


def test_the_demo_serves_the_committed_schema(demo: dict[str, Any]) -> None:
    assert demo["schema_status"] == 200
    assert demo["schema_type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(demo["schema"]) == yaml.safe_load(SCHEMA_FILE.read_text())


def test_the_demo_serves_swagger_ui_from_its_own_static_files(demo: dict[str, Any]) -> None:
    assert demo["docs_status"] == 200
    assets = demo["assets"]
    assert any(re.search(r"swagger-ui-bundle\.js$", a) for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    assert not [a for a in assets if re.match(r"(https?:)?//", a)], "no CDN"
    static = [a for a in assets if a.startswith("/static/drf_spectacular_sidecar/")]
    assert len(static) >= 3
    assert all(demo["found"])


def test_the_app_does_not_need_drf_spectacular() -> None:
    """Without drf-spectacular installed, the app loads and serves; only the schema is gone."""
    script = (
        "import sys; sys.modules['drf_spectacular'] = None\n"
        "import django; django.setup()\n"
        "import analytics.api.views, analytics.urls, analytics.admin\n"
        "assert 'analytics.api.schema' not in sys.modules\n"
        "print('ok')\n"
    )
    assert run_demo("-c", script, DJANGO_SETTINGS_MODULE="tests.settings").strip() == "ok"


@pytest.mark.django_db
def test_a_401_without_its_challenge_is_caught(
    openapi_spec: OpenAPI, api_client: APIClient
) -> None:
    response = api_client.get(HEATMAP_URL)
    del response["WWW-Authenticate"]
    with pytest.raises(MissingRequiredHeader, match="WWW-Authenticate"):
        validate(openapi_spec, response)
