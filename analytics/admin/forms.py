"""The admin's heatmap form: the endpoint's parameters, as the vocabulary describes them,
with errors shown, never a 500."""

from __future__ import annotations

from uuid import UUID

from django import forms
from django.http import QueryDict

from analytics.conf import conf
from analytics.exceptions import HeatmapError
from analytics.heatmap.presentation import CLOCK_NAMES, metric_name
from analytics.heatmap.query import HeatmapQuery
from analytics.heatmap.selectors import require_agency
from analytics.heatmap.vocabulary import (
    CLOCK,
    METRIC,
    MIN_CALLS,
    MIN_CALLS_LIMITS,
    PERIOD,
    TZ,
    Clock,
    Metric,
    Period,
    Zone,
)


class CallHeatmapForm(forms.Form):
    """What the admin's heatmap page shows: an agency and the endpoint's own options."""

    agency = forms.UUIDField(
        label="Agency",
        widget=forms.TextInput(
            attrs={"list": "analytics-agencies", "size": 38, "placeholder": "agency UUID"}
        ),
    )
    # The endpoint's parameters, with the help, bounds and defaults the vocabulary gives.
    period = forms.TypedChoiceField(
        choices=[(period.value, f"Last {period.days} days") for period in Period],
        coerce=Period,
        initial=PERIOD.default,
        help_text=PERIOD.plain_help,
    )
    metric = forms.TypedChoiceField(
        choices=[(metric.value, metric_name(metric).capitalize()) for metric in Metric],
        coerce=Metric,
        initial=METRIC.default,
        help_text=METRIC.plain_help,
    )
    tz = forms.CharField(
        label="Time zone",
        initial=TZ.default,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "analytics-time-zones", "size": 22}),
        help_text=TZ.plain_help,
    )
    min_calls = forms.IntegerField(
        label="Min calls",
        initial=MIN_CALLS.default,
        min_value=MIN_CALLS_LIMITS[0],
        max_value=MIN_CALLS_LIMITS[1],
        widget=forms.NumberInput(attrs={"style": "width: 6em"}),
        help_text=MIN_CALLS.plain_help,
    )
    clock = forms.TypedChoiceField(
        choices=[(clock, CLOCK_NAMES[Clock(clock)]) for clock in CLOCK.choices],
        coerce=Clock,
        initial=CLOCK.default,
        help_text=CLOCK.plain_help,
    )

    @classmethod
    def from_query(cls, query: QueryDict, *, zone: str = TZ.default) -> CallHeatmapForm:
        """Bound once an agency is asked for; options left out take their defaults, and
        the time zone ``zone``."""
        if "agency" not in query:
            return cls(initial={"tz": zone})
        initial = {name: field.initial for name, field in cls.base_fields.items()}
        initial["tz"] = zone
        initial.update((name, query[name]) for name in cls.base_fields if name in query)
        return cls(initial)

    def clean_tz(self) -> Zone:
        try:
            return Zone.named(self.cleaned_data["tz"].strip())
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

    def clean_agency(self) -> UUID:
        agency_id: UUID = self.cleaned_data["agency"]
        try:
            require_agency(agency_id=agency_id)
        except HeatmapError as exc:
            raise forms.ValidationError(str(exc), code=exc.code) from exc
        return agency_id

    def heatmap_query(self) -> HeatmapQuery:
        """The endpoint's query for the valid form, made as the endpoint makes it
        (:meth:`HeatmapQuery.parse`); its window ends today, in its zone."""
        values = {name: value for name, value in self.cleaned_data.items() if name != "agency"}
        return HeatmapQuery.parse(values, calling_hours=conf.CALLING_HOURS)
