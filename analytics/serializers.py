"""Validate the heatmap's query string and shape its JSON answer."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics.domain import Metric, Period


class HeatmapQuerySerializer(serializers.Serializer[Any]):
    """Query parameters; anything malformed is a 400 and never reaches SQL."""

    period = serializers.ChoiceField(
        choices=[p.value for p in Period], default=Period.DAYS_30.value
    )
    metric = serializers.ChoiceField(choices=[m.value for m in Metric], default=Metric.CALLS.value)
    campaign_id = serializers.UUIDField(required=False)
    client_id = serializers.UUIDField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        # DRF reads ``?client_id=`` as "not given"; a blank value is a client bug
        # we would rather report than silently widen the answer to every client.
        blank = {
            name: ["This field may not be blank."] for name in self.fields if data.get(name) == ""
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class HeatmapPeriodSerializer(serializers.Serializer[Any]):
    start_date = serializers.DateField()
    end_date = serializers.DateField()


class HeatmapCellSerializer(serializers.Serializer[Any]):
    day = serializers.IntegerField()
    hour = serializers.IntegerField()
    total_calls = serializers.IntegerField()
    connected_calls = serializers.IntegerField()
    meetings_booked = serializers.IntegerField()


class BestTimeSerializer(serializers.Serializer[Any]):
    day = serializers.IntegerField()
    hour = serializers.IntegerField()
    metric_value = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label


class HeatmapSerializer(serializers.Serializer[Any]):
    period = HeatmapPeriodSerializer(source="*")
    metric = serializers.CharField()
    heatmap = HeatmapCellSerializer(many=True, source="cells")
    best_times = BestTimeSerializer(many=True)
