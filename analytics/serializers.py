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
