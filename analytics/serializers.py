"""Validate the heatmap's query string and shape its JSON answer."""

from __future__ import annotations

from typing import Any, cast

from rest_framework import serializers

from analytics.domain import (
    DEFAULT_MIN_CALLS,
    DEFAULT_TIME_ZONE,
    MIN_CALLS_LIMITS,
    Metric,
    Period,
    Zone,
)
from analytics.queries import HeatmapQuery


class TimeZoneField(serializers.CharField):
    """A zone name, whose one check is the zone database's list (``validate_tz``).

    That list refuses NUL and surrogate characters too, with the zone's own
    message, so ``CharField``'s character validators are left out.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = []


class QueryFlagField(serializers.BooleanField):
    """``true``/``1`` or ``false``/``0`` (any case); DRF's own also takes ``yes``, ``on``, ``t``."""

    # Absent is "not given", so the default applies (an HTML form's unticked box is False).
    default_empty_html = serializers.empty
    TRUE_VALUES = {"true", "1"}
    FALSE_VALUES = {"false", "0"}
    NULL_VALUES: set[str | None] = set()
    default_error_messages = {"invalid": 'Must be "true", "false", "1" or "0".'}


class HeatmapQuerySerializer(serializers.Serializer[Any]):
    """Query parameters, validated into a :class:`HeatmapQuery`; anything malformed is a 400.

    The fields are the parameters' one description: drf-spectacular reads their
    help, bounds and defaults, and so do the admin form and ``call_heatmap``.
    """

    period = serializers.ChoiceField(
        choices=[period.value for period in Period],
        default=Period.DAYS_30.value,
        help_text="The last 7, 30 or 90 calendar days, today included (in `tz`).",
    )
    metric = serializers.ChoiceField(
        choices=[metric.value for metric in Metric],
        default=Metric.CALLS.value,
        help_text=(
            "What `best_times` ranks. The counts rank by the count; the rates "
            "(`connect_rate`, `meeting_rate`) by the lower bound of the 95% Wilson "
            "score interval, among slots with at least `min_calls` calls."
        ),
    )
    campaign_id = serializers.UUIDField(
        required=False, help_text="Only this campaign's calls (within the caller's agency)."
    )
    client_id = serializers.UUIDField(
        required=False, help_text="Only this client's calls (within the caller's agency)."
    )
    tz = TimeZoneField(
        default=DEFAULT_TIME_ZONE,
        help_text=(
            "IANA time zone name, spelled as in the zone database (`America/New_York`), that "
            "days, hours and the window are counted in. UTC offsets (`+05:30`, `Etc/GMT-3`) "
            "and unknown names are refused."
        ),
    )
    min_calls = serializers.IntegerField(
        min_value=MIN_CALLS_LIMITS[0],
        max_value=MIN_CALLS_LIMITS[1],
        default=DEFAULT_MIN_CALLS,
        help_text="Calls a slot needs before a rate metric can rank it. Count metrics ignore it.",
    )
    dense = QueryFlagField(
        default=False,
        help_text=(
            "`true` or `1` returns all 168 slots, zero-filled; `false` or `0` only slots "
            "with calls. Any case."
        ),
    )

    def to_internal_value(self, data: Any) -> Any:
        # DRF reads ``?client_id=`` as "not given"; a blank value is a client bug
        # we would rather report than silently widen the answer to every client.
        # ``.keys()`` because the DRF stubs say iterating ``fields`` yields fields, not names.
        blank = {
            name: ["This field may not be blank."]
            for name in self.fields.keys()  # noqa: SIM118
            if data.get(name) == ""
        }
        # ``?min_calls=x&min_calls=5`` would be read as its last value: a parameter given
        # twice means two things, and a proxy or log may have read the first.
        repeated = {
            name: ["Give this parameter once."]
            for name in self.fields.keys()  # noqa: SIM118
            if hasattr(data, "getlist") and len(data.getlist(name)) > 1
        }
        if blank or repeated:
            raise serializers.ValidationError({**blank, **repeated})
        return super().to_internal_value(data)

    # Each value parsed once, in DRF's per-field hooks (defaults included), so a bad
    # one is reported under its own name beside the others.

    def validate_period(self, value: str) -> Period:
        return Period(value)

    def validate_metric(self, value: str) -> Metric:
        return Metric(value)

    def validate_tz(self, value: str) -> Zone:
        """The zone, resolved once; only names in the zone database's list open a file."""
        try:
            return Zone.named(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc

    def validate(self, attrs: dict[str, Any]) -> HeatmapQuery:
        # Every field is checked by now; the window is fixed here, once, in the query's zone.
        return HeatmapQuery.build(
            period=attrs["period"],
            metric=attrs["metric"],
            zone=attrs["tz"],
            min_calls=attrs["min_calls"],
            dense=attrs["dense"],
            campaign_id=attrs.get("campaign_id"),
            client_id=attrs.get("client_id"),
        )

    @property
    def query(self) -> HeatmapQuery:
        """The validated query (after ``is_valid()``), typed."""
        return cast(HeatmapQuery, self.validated_data)


def query_parameter(name: str) -> serializers.Field[Any, Any, Any, Any]:
    """The query serializer's field for the parameter ``name``, to read its facts from."""
    return HeatmapQuerySerializer().fields[name]


def parameter_help(name: str) -> str:
    """The parameter's help as plain text (no Markdown code marks), for the admin and the CLI."""
    return str(query_parameter(name).help_text).replace("`", "")


def parameter_bounds(name: str) -> tuple[Any, Any]:
    """The parameter's inclusive ``(min_value, max_value)``; ``None`` where it has none."""
    field = query_parameter(name)
    return getattr(field, "min_value", None), getattr(field, "max_value", None)


def parameter_default(name: str) -> Any:
    """The parameter's default as the query string spells it (``30d``, ``UTC``, ``20``)."""
    field = query_parameter(name)
    return field.to_representation(field.default)


class HeatmapPeriodSerializer(serializers.Serializer[Any]):
    start_date = serializers.DateField()
    end_date = serializers.DateField()


class HeatmapCellSerializer(serializers.Serializer[Any]):
    """One slot; rates are JSON numbers (floats, 4 decimals), ``null`` in a slot without calls."""

    day = serializers.IntegerField()
    hour = serializers.IntegerField()
    total_calls = serializers.IntegerField()
    connected_calls = serializers.IntegerField()
    meetings_booked = serializers.IntegerField()
    connect_rate = serializers.FloatField(allow_null=True)
    meeting_rate = serializers.FloatField(allow_null=True)


class BestTimeSerializer(serializers.Serializer[Any]):
    day = serializers.IntegerField()
    hour = serializers.IntegerField()
    # As it is: an integer count, or a rate as a JSON number with 4 decimals.
    metric_value = serializers.ReadOnlyField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    total_calls = serializers.IntegerField(allow_null=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if data["total_calls"] is None:  # a count is its own sample size; only rates carry one
            del data["total_calls"]
        return data


class HeatmapSerializer(serializers.Serializer[Any]):
    period = HeatmapPeriodSerializer(source="*")
    metric = serializers.CharField()
    timezone = serializers.CharField()
    heatmap = HeatmapCellSerializer(many=True, source="cells")
    best_times = BestTimeSerializer(many=True)
