"""Validate the heatmap's query string and shape its JSON answer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from rest_framework import serializers

from analytics.conf import conf
from analytics.exceptions import InvalidQuery
from analytics.heatmap.query import HeatmapQuery
from analytics.heatmap.ranking import BEST_TIMES_LIMIT
from analytics.heatmap.vocabulary import (
    CAMPAIGN_ID,
    CLIENT_ID,
    CLOCK,
    DAY_NAMES,
    DENSE,
    METRIC,
    MIN_CALLS,
    MIN_CALLS_LIMITS,
    PERIOD,
    RATE_DECIMALS,
    TZ,
    Heatmap,
)

#: What a parameter given more than once gets, ``format`` included (``FormatParamNegotiation``).
GIVE_ONCE = "Give this parameter once."


def repeated_parameters(data: Any, names: Iterable[str]) -> dict[str, list[str]]:
    """Each of ``names`` the query string gives more than once, with :data:`GIVE_ONCE`.

    ``?min_calls=x&min_calls=5`` would be read as its last value: a parameter given
    twice means two things, and a proxy or log may have read the first.
    """
    if not hasattr(data, "getlist"):
        return {}
    return {name: [GIVE_ONCE] for name in names if len(data.getlist(name)) > 1}


class HeatmapQuerySerializer(serializers.Serializer[Any]):
    """Query parameters, validated into a :class:`HeatmapQuery`; anything malformed is a 400.

    The fields describe the parameters (drf-spectacular reads their type, choices, bounds,
    default and help, each from its :class:`~analytics.heatmap.vocabulary.Parameter`); the
    checking is :meth:`HeatmapQuery.parse`'s, the one ``heatmap()`` in the shell uses, so
    the two take the same values and refuse the rest with the same messages. Only the
    query string's own mistake, a parameter given twice, is checked here.
    """

    period = serializers.ChoiceField(
        choices=list(PERIOD.choices), default=PERIOD.default, help_text=PERIOD.help
    )
    metric = serializers.ChoiceField(
        choices=list(METRIC.choices), default=METRIC.default, help_text=METRIC.help
    )
    campaign_id = serializers.UUIDField(required=False, help_text=CAMPAIGN_ID.help)
    client_id = serializers.UUIDField(required=False, help_text=CLIENT_ID.help)
    tz = serializers.CharField(default=TZ.default, help_text=TZ.help)
    min_calls = serializers.IntegerField(
        min_value=MIN_CALLS_LIMITS[0],
        max_value=MIN_CALLS_LIMITS[1],
        default=MIN_CALLS.default,
        help_text=MIN_CALLS.help,
    )
    dense = serializers.BooleanField(default=DENSE.default, help_text=DENSE.help)
    clock = serializers.ChoiceField(
        choices=list(CLOCK.choices), default=CLOCK.default, help_text=CLOCK.help
    )

    def to_internal_value(self, data: Any) -> HeatmapQuery:
        # ``.keys()`` because the DRF stubs say iterating ``fields`` yields fields, not names.
        names = list(self.fields.keys())
        if repeated := repeated_parameters(data, names):
            raise serializers.ValidationError(repeated)
        given = {name: data[name] for name in names if name in data}
        try:
            # The window is fixed here, once, in the query's zone.
            return HeatmapQuery.parse(given, calling_hours=conf.CALLING_HOURS)
        except InvalidQuery as exc:
            raise serializers.ValidationError(
                {name: [message] for name, message in exc.errors.items()}
            ) from exc

    @property
    def query(self) -> HeatmapQuery:
        """The validated query (after ``is_valid()``), typed."""
        return cast(HeatmapQuery, self.validated_data)


def day_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=0,
        max_value=len(DAY_NAMES) - 1,
        help_text="0 is Sunday, as in JavaScript's `Date.getDay()`; local to `timezone`, or with "
        "`clock=lead` to the lead.",
    )


def hour_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=0,
        max_value=23,
        help_text="Local to `timezone`, or with `clock=lead` to the lead.",
    )


def count_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0)


def rate_field(part: str) -> serializers.FloatField:
    """A JSON number (4 decimals), ``null`` in a slot without calls: no rate at all."""
    return serializers.FloatField(
        min_value=0,
        max_value=1,
        allow_null=True,
        help_text=f"`{part} / total_calls`, rounded half up to {RATE_DECIMALS} decimals; "
        "`null` in a slot without calls.",
    )


class HeatmapPeriodSerializer(serializers.Serializer[Any]):
    start_date = serializers.DateField()
    end_date = serializers.DateField()


class HeatmapCellSerializer(serializers.Serializer[Any]):
    """One (day, hour) slot of the window."""

    day = day_field()
    hour = hour_field()
    total_calls = count_field()
    connected_calls = count_field()
    meetings_booked = count_field()
    connect_rate = rate_field("connected_calls")
    meeting_rate = rate_field("meetings_booked")


class MetricValueField(serializers.Field):  # type: ignore[type-arg]
    """As it is: an integer count, or a rate as a JSON number with 4 decimals."""

    def to_representation(self, value: Any) -> Any:
        return value


# No docstring: drf-spectacular would publish it as the component's description.
class BestTimeSerializer(serializers.Serializer[Any]):
    day = day_field()
    hour = hour_field()
    metric_value = MetricValueField(
        help_text="The slot's value for `metric`: an integer count, or the observed rate "
        f"({RATE_DECIMALS} decimals) for a rate metric."
    )
    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label
        help_text="English day name and zero-padded local hour."
    )
    total_calls = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The rate's sample size; present for the rate metrics only.",
    )


# No docstring, as drf-spectacular would publish it. The fields describe the body to
# drf-spectacular; ``Heatmap.as_body()`` writes it, so the shell's ``as_body()`` is the
# endpoint's body by construction.
class HeatmapSerializer(serializers.Serializer[Any]):
    def to_representation(self, instance: Heatmap) -> dict[str, Any]:
        return instance.as_body()

    period = HeatmapPeriodSerializer(source="*")
    metric = serializers.ChoiceField(
        choices=list(METRIC.choices), help_text="The `metric` asked for."
    )
    timezone = serializers.CharField(
        help_text=f"The IANA zone the window is in (`{TZ.default}` by default), and with "
        "`clock=tz` the days and hours."
    )
    clock = serializers.ChoiceField(
        choices=list(CLOCK.choices),
        help_text="The `clock` asked for: `tz`, days and hours in `timezone`, or `lead`, in "
        "the local time of each number called.",
    )
    unplaced_calls = serializers.IntegerField(
        min_value=0,
        allow_null=True,
        help_text="With `clock=lead`: ended calls in the window (and filters) whose number "
        "the time-zone map could not place, left out of `heatmap`; `null` with `clock=tz`.",
    )
    outside_calling_hours = serializers.IntegerField(
        min_value=0,
        allow_null=True,
        help_text="With `clock=lead`: placed calls whose lead-local hour is outside the "
        "calling hours (`ANALYTICS_CALLING_HOURS`, 8:00 to 21:00 by default), which "
        "`best_times` never ranks; `null` with `clock=tz` or without calling hours.",
    )
    heatmap = HeatmapCellSerializer(
        many=True,
        source="cells",
        help_text="Slots with calls (all 168 with `dense`), by day then hour.",
    )
    best_times = BestTimeSerializer(
        many=True,
        help_text=f"Up to {BEST_TIMES_LIMIT} slots, best first; slots whose value is 0 are "
        "left out.",
    )
