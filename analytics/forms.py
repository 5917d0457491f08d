"""The admin's heatmap form: the same choices as the endpoint, with errors shown, never a 500."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from django import forms
from django.db import DatabaseError
from django.http import QueryDict

from analytics.domain import (
    DEFAULT_MIN_CALLS,
    DEFAULT_TIME_ZONE,
    MIN_CALLS_LIMITS,
    Metric,
    Period,
    time_zone,
)
from analytics.presentation import metric_name
from analytics.selectors import agency_exists

logger = logging.getLogger(__name__)


class CallHeatmapForm(forms.Form):
    """What the admin's heatmap page shows: an agency and the endpoint's own options."""

    agency = forms.UUIDField(
        label="Agency",
        widget=forms.TextInput(
            attrs={"list": "analytics-agencies", "size": 38, "placeholder": "agency UUID"}
        ),
    )
    period = forms.ChoiceField(
        choices=[(period.value, f"Last {period.days} days") for period in Period],
        initial=Period.DAYS_30.value,
    )
    metric = forms.ChoiceField(
        choices=[(metric.value, metric_name(metric).capitalize()) for metric in Metric],
        initial=Metric.CALLS.value,
        help_text="What shades the grid and ranks the best times.",
    )
    tz = forms.CharField(
        label="Time zone",
        initial=DEFAULT_TIME_ZONE,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "analytics-time-zones", "size": 22}),
        help_text="IANA name; days and hours are read in it.",
    )
    min_calls = forms.IntegerField(
        label="Min calls",
        initial=DEFAULT_MIN_CALLS,
        min_value=MIN_CALLS_LIMITS[0],
        max_value=MIN_CALLS_LIMITS[1],
        widget=forms.NumberInput(attrs={"style": "width: 6em"}),
        help_text="Calls a slot needs before its rate counts.",
    )

    @classmethod
    def from_query(cls, query: QueryDict) -> CallHeatmapForm:
        """Bound once an agency is asked for; options left out take their defaults."""
        if "agency" not in query:
            return cls()
        data = {name: field.initial for name, field in cls.base_fields.items()}
        data.update((name, query[name]) for name in cls.base_fields if name in query)
        return cls(data)

    def clean_tz(self) -> str:
        name: str = self.cleaned_data["tz"].strip()
        try:
            time_zone(name)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc
        return name

    def clean_agency(self) -> UUID:
        agency_id: UUID = self.cleaned_data["agency"]
        try:
            known = agency_exists(agency_id=agency_id)
        except DatabaseError as exc:
            logger.exception("Agency lookup failed for agency %s", agency_id)
            raise forms.ValidationError(
                "The calls table could not be queried; the error has been logged.",
                code="database",
            ) from exc
        if not known:
            raise forms.ValidationError(
                "No calls and no users belong to this agency.", code="unknown_agency"
            )
        return agency_id

    def heatmap_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`analytics.selectors.heatmap`."""
        data = self.cleaned_data
        return {
            "agency_id": data["agency"],
            "period": data["period"],
            "metric": data["metric"],
            "tz": data["tz"],
            "min_calls": data["min_calls"],
        }
