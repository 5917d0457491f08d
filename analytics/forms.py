"""The admin's heatmap form: the same choices as the endpoint, with errors shown, never a 500."""

from __future__ import annotations

import logging
from uuid import UUID

from django import forms
from django.db import DatabaseError
from django.http import QueryDict

from analytics.domain import Metric, Period, Zone
from analytics.presentation import metric_name
from analytics.queries import HeatmapQuery
from analytics.selectors import agency_exists
from analytics.serializers import parameter_bounds, parameter_default, parameter_help

logger = logging.getLogger(__name__)


MIN_CALLS_BOUNDS = parameter_bounds("min_calls")


class CallHeatmapForm(forms.Form):
    """What the admin's heatmap page shows: an agency and the endpoint's own options."""

    agency = forms.UUIDField(
        label="Agency",
        widget=forms.TextInput(
            attrs={"list": "analytics-agencies", "size": 38, "placeholder": "agency UUID"}
        ),
    )
    # The endpoint's parameters, with the help, bounds and defaults of its query serializer.
    period = forms.TypedChoiceField(
        choices=[(period.value, f"Last {period.days} days") for period in Period],
        coerce=Period,
        initial=parameter_default("period"),
        help_text=parameter_help("period"),
    )
    metric = forms.TypedChoiceField(
        choices=[(metric.value, metric_name(metric).capitalize()) for metric in Metric],
        coerce=Metric,
        initial=parameter_default("metric"),
        help_text=parameter_help("metric"),
    )
    tz = forms.CharField(
        label="Time zone",
        initial=parameter_default("tz"),
        max_length=64,
        widget=forms.TextInput(attrs={"list": "analytics-time-zones", "size": 22}),
        help_text=parameter_help("tz"),
    )
    min_calls = forms.IntegerField(
        label="Min calls",
        initial=parameter_default("min_calls"),
        min_value=MIN_CALLS_BOUNDS[0],
        max_value=MIN_CALLS_BOUNDS[1],
        widget=forms.NumberInput(attrs={"style": "width: 6em"}),
        help_text=parameter_help("min_calls"),
    )

    @classmethod
    def from_query(cls, query: QueryDict) -> CallHeatmapForm:
        """Bound once an agency is asked for; options left out take their defaults."""
        if "agency" not in query:
            return cls()
        data = {name: field.initial for name, field in cls.base_fields.items()}
        data.update((name, query[name]) for name in cls.base_fields if name in query)
        return cls(data)

    def clean_tz(self) -> Zone:
        try:
            return Zone.named(self.cleaned_data["tz"].strip())
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

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

    def heatmap_query(self) -> HeatmapQuery:
        """The endpoint's query for the valid form; its window ends today, in its zone."""
        data = self.cleaned_data
        return HeatmapQuery.build(
            period=data["period"],
            metric=data["metric"],
            zone=data["tz"],
            min_calls=data["min_calls"],
        )
