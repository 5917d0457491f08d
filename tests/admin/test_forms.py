"""The heatmap page's form: the endpoint's parameters and their facts, errors shown, never a 500."""

from __future__ import annotations

import uuid

import pytest
from django import forms
from django.test import Client

from analytics.admin.forms import CallHeatmapForm
from analytics.api.serializers import HeatmapQuerySerializer
from analytics.heatmap.vocabulary import CLOCK, MIN_CALLS_LIMITS
from analytics.models import User
from tests.helpers import HEATMAP_PAGE

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"agency": "not-a-uuid"}, "agency", "Enter a valid UUID."),
        ({"agency": ""}, "agency", "This field is required."),
        ({"agency": "{agency}\x00"}, "agency", "Enter a valid UUID."),
        ({"period": "1y"}, "period", "Select a valid choice."),
        ({"metric": "vibes"}, "metric", "Select a valid choice."),
        ({"tz": "Mars/Olympus_Mons"}, "tz", "Unknown time zone"),
        ({"tz": "../../etc/passwd"}, "tz", "Unknown time zone"),
        ({"tz": "+05:00"}, "tz", "not a UTC offset"),
        ({"tz": "UTC\x00"}, "tz", "Null characters are not allowed."),
        ({"min_calls": "0"}, "min_calls", "greater than or equal to 1"),
        ({"min_calls": "9" * 30}, "min_calls", "less than or equal to"),
        ({"min_calls": "many"}, "min_calls", "Enter a whole number."),
        ({"clock": "LEAD"}, "clock", "Select a valid choice."),
        ({"clock": ""}, "clock", "This field is required."),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(
    staff: Client,
    user: User,
    agency_id: uuid.UUID,
    query: dict[str, str],
    field: str,
    message: str,
) -> None:
    data = {"agency": str(agency_id), **query}
    data["agency"] = data["agency"].replace("{agency}", str(agency_id))
    response = staff.get(HEATMAP_PAGE, data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert message.split(".")[0] in response.content.decode().replace("&quot;", '"')
    bad_json = staff.get(HEATMAP_PAGE, {**data, "format": "json"})
    assert bad_json.status_code == 400
    assert list(bad_json.json()["errors"]) == [field]


def test_the_form_takes_the_endpoints_parameter_facts() -> None:
    """Help, bounds and defaults are the endpoint's query parameters', written once."""
    fields = CallHeatmapForm().fields
    endpoint = HeatmapQuerySerializer().fields
    names = ("period", "metric", "tz", "min_calls", "clock")
    for name in names:
        assert fields[name].help_text == endpoint[name].help_text.replace("`", "")
        assert "`" not in fields[name].help_text
    min_calls = fields["min_calls"]
    assert isinstance(min_calls, forms.IntegerField)
    assert (min_calls.min_value, min_calls.max_value) == MIN_CALLS_LIMITS
    initial = {name: fields[name].initial for name in names}
    assert initial == {
        "period": "30d",
        "metric": "calls",
        "tz": "UTC",
        "min_calls": 20,
        "clock": "tz",
    }
    clock = fields["clock"]
    assert isinstance(clock, forms.ChoiceField)
    assert [value for value, _ in clock.choices] == list(CLOCK.choices)


def test_an_agency_with_neither_calls_nor_users_is_unknown(staff: Client) -> None:
    response = staff.get(HEATMAP_PAGE, {"agency": str(uuid.uuid4())})
    assert response.context["form"].errors == {
        "agency": ["No calls and no users belong to this agency; check the id."]
    }
