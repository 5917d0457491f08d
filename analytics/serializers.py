"""Validate the heatmap's query string and shape its JSON answer."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics.domain import (
    DEFAULT_MIN_CALLS,
    DEFAULT_TIME_ZONE,
    MIN_CALLS_LIMITS,
    Metric,
    Period,
    time_zone,
)


class TimeZoneField(serializers.CharField):
    """An IANA zone name, looked up in the zone database's list before anything opens a file."""

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        try:
            time_zone(name)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc
        return name


class QueryFlagField(serializers.BooleanField):
    """``true``/``1`` or ``false``/``0`` (any case); DRF's own also takes ``yes``, ``on``, ``t``."""

    # Absent is "not given", so the default applies (an HTML form's unticked box is False).
    default_empty_html = serializers.empty
    TRUE_VALUES = {"true", "1"}
    FALSE_VALUES = {"false", "0"}
    NULL_VALUES: set[str | None] = set()
    default_error_messages = {"invalid": 'Must be "true", "false", "1" or "0".'}


class HeatmapQuerySerializer(serializers.Serializer[Any]):
    """Query parameters; anything malformed is a 400 and never reaches SQL."""

    period = serializers.ChoiceField(
        choices=[p.value for p in Period], default=Period.DAYS_30.value
    )
    metric = serializers.ChoiceField(choices=[m.value for m in Metric], default=Metric.CALLS.value)
    campaign_id = serializers.UUIDField(required=False)
    client_id = serializers.UUIDField(required=False)
    tz = TimeZoneField(default=DEFAULT_TIME_ZONE)
    min_calls = serializers.IntegerField(
        min_value=MIN_CALLS_LIMITS[0], max_value=MIN_CALLS_LIMITS[1], default=DEFAULT_MIN_CALLS
    )
    dense = QueryFlagField(default=False)

    def to_internal_value(self, data: Any) -> Any:
        # DRF reads ``?client_id=`` as "not given"; a blank value is a client bug
        # we would rather report than silently widen the answer to every client.
        # ``.keys()`` because the DRF stubs say iterating ``fields`` yields fields, not names.
        blank = {
            name: ["This field may not be blank."]
            for name in self.fields.keys()  # noqa: SIM118
            if data.get(name) == ""
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


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
