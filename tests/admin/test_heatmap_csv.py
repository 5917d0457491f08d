"""The admin heatmap page's CSV (``analytics.admin.heatmap``): the endpoint's own CSV, linked.

Apart from ``test_heatmap.py`` only because it came from the endpoint's CSV tests.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from analytics.models import User
from tests.helpers import HEATMAP_PAGE, HEATMAP_URL

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("calls_at_nine_and_two")]

CSV_TYPE = "text/csv; charset=utf-8"


def test_the_admin_page_links_the_csv(staff: Client, agency_id: uuid.UUID) -> None:
    html = staff.get(HEATMAP_PAGE, {"agency": str(agency_id), "metric": "connect_rate"})
    content = html.content.decode()
    assert 'id="heatmap-csv"' in content
    assert "format=csv" in content
    assert "format=json" in content  # its JSON link is still there


@pytest.mark.parametrize("clock", ["tz", "lead"])
def test_the_admin_csv_is_the_endpoints_csv(
    staff: Client, agency_id: uuid.UUID, auth_client: APIClient, clock: str
) -> None:
    options = {
        "period": "7d",
        "metric": "meeting_rate",
        "tz": "Europe/Paris",
        "min_calls": "1",
        "clock": clock,
    }
    page = staff.get(HEATMAP_PAGE, {"agency": str(agency_id), "format": "csv", **options})
    api = auth_client.get(HEATMAP_URL, {"format": "csv", **options})
    assert page.status_code == api.status_code == 200
    assert page["Content-Type"] == api["Content-Type"] == CSV_TYPE
    assert page["Content-Disposition"] == api["Content-Disposition"]
    assert page.content == api.content
    assert str(agency_id) not in page["Content-Disposition"]
    assert page["Content-Disposition"].endswith('-lead.csv"') == (clock == "lead")


def test_the_admin_csv_with_bad_input_is_json_errors(staff: Client, user: User) -> None:
    response = staff.get(HEATMAP_PAGE, {"agency": str(user.agency_id), "tz": "Mars/Base"})
    assert response.status_code == 200  # the page shows the form error
    csv_response = staff.get(
        HEATMAP_PAGE, {"agency": str(user.agency_id), "tz": "Mars/Base", "format": "csv"}
    )
    assert csv_response.status_code == 400
    assert csv_response["Content-Type"] == "application/json"
    assert list(csv_response.json()["errors"]) == ["tz"]
