"""What one heatmap request asks for, checked once: the value every layer after the parser takes.

:meth:`HeatmapQuery.parse` checks plain values (a query string's, or the shell's) with one
check per parameter, below; the endpoint's query serializer and the shell's ``heatmap()``
both call it, so they accept the same values and refuse the rest with the same messages.
The admin form checks with Django's form fields (to show each error beside its field),
then makes its query through :meth:`HeatmapQuery.parse` as well. The cache, the selector
and the pages only read the query. Free of Django and DRF, like
:mod:`analytics.heatmap.vocabulary`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, TypeVar
from uuid import UUID

from analytics.exceptions import InvalidQuery
from analytics.heatmap.vocabulary import (
    ABOVE_MAXIMUM,
    BELOW_MINIMUM,
    BLANK,
    CAMPAIGN_ID,
    CLIENT_ID,
    CLOCK,
    DEFAULT_MIN_CALLS,
    DEFAULT_ZONE,
    DENSE,
    FALSE_FLAGS,
    INTEGER_TOO_LONG,
    INVALID_CHOICE,
    INVALID_FLAG,
    INVALID_INTEGER,
    INVALID_UUID,
    MAX_INTEGER_LENGTH,
    METRIC,
    MIN_CALLS,
    MIN_CALLS_LIMITS,
    PERIOD,
    TRUE_FLAGS,
    TZ,
    CallingHours,
    Clock,
    Metric,
    Parameter,
    Period,
    Zone,
)

Choice = TypeVar("Choice", bound=enum.StrEnum)
#: ``"20.0"`` and ``"20.000 "`` are 20, as DRF's integer field reads them; ``"20.5"`` is not.
_WHOLE_DECIMAL = re.compile(r"\.0*\s*$")


def parse_choice(choices: type[Choice], value: object) -> Choice:
    """One of ``choices``, spelled exactly (``"lead"``, not ``"LEAD"``), or ``ValueError``."""
    try:
        return choices(str(value))
    except ValueError:
        raise ValueError(INVALID_CHOICE.format(value=value)) from None


def parse_uuid(value: object) -> UUID:
    """A UUID, or its text in any form Python's ``UUID`` reads (hyphens, braces, ``urn:uuid:``)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value) if isinstance(value, str) else "")
    except ValueError:
        raise ValueError(INVALID_UUID) from None


def parse_zone(value: object) -> Zone:
    """A zone of :func:`~analytics.heatmap.vocabulary.time_zone_names`, around spaces
    stripped, or ``ValueError`` with the zone's own message. A :class:`Zone` is one already."""
    if isinstance(value, Zone):
        return value
    name = value.strip() if isinstance(value, str) else ""
    if isinstance(value, str) and not name:
        raise ValueError(BLANK)
    return Zone.named(name)


def parse_min_calls(value: object) -> int:
    """A whole number within ``MIN_CALLS_LIMITS``: an ``int``, or its text (``"20"``,
    ``"20.0"``), as the query string gives it. ``True`` is not a number here."""
    if isinstance(value, str) and len(value) > MAX_INTEGER_LENGTH:
        raise ValueError(INTEGER_TOO_LONG)
    try:
        number = int(_WHOLE_DECIMAL.sub("", str(value)))
    except (ValueError, TypeError):
        raise ValueError(INVALID_INTEGER) from None
    low, high = MIN_CALLS_LIMITS
    if number < low:
        raise ValueError(BELOW_MINIMUM.format(limit=low))
    if number > high:
        raise ValueError(ABOVE_MAXIMUM.format(limit=high))
    return number


def parse_flag(value: object) -> bool:
    """``True``/``False``, or the query string's ``true``/``1`` and ``false``/``0`` in any case."""
    if isinstance(value, bool):
        return value
    spelled = value.lower() if isinstance(value, str) else None
    if spelled in TRUE_FLAGS:
        return True
    if spelled in FALSE_FLAGS:
        return False
    raise ValueError(INVALID_FLAG)


#: Each parameter :meth:`HeatmapQuery.parse` takes, and its check, in the contract's order.
CHECKS: tuple[tuple[Parameter[Any], Callable[[object], Any]], ...] = (
    (PERIOD, lambda value: parse_choice(Period, value)),
    (METRIC, lambda value: parse_choice(Metric, value)),
    (CAMPAIGN_ID, parse_uuid),
    (CLIENT_ID, parse_uuid),
    (TZ, parse_zone),
    (MIN_CALLS, parse_min_calls),
    (DENSE, parse_flag),
    (CLOCK, lambda value: parse_choice(Clock, value)),
)


def today_in(zone: tzinfo) -> date:
    """Today's date in ``zone``: the last day of every window."""
    return datetime.now(zone).date()


def heatmap_window(period: Period, *, today: date) -> tuple[date, date]:
    """``(start_date, end_date)``: the ``period.days`` calendar days ending today."""
    return today - timedelta(days=period.days - 1), today


def window_bounds(start_date: date, end_date: date, *, zone: tzinfo) -> tuple[datetime, datetime]:
    """``[start_date 00:00, end_date + 1 day 00:00)`` in ``zone``, as UTC instants.

    A midnight that a daylight-saving change skips (``fold=0``) lands on the
    change itself, which is that day's first instant.
    """
    start = datetime.combine(start_date, time.min, tzinfo=zone)
    end = datetime.combine(end_date + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeatmapQuery:
    """One heatmap question, every value already checked and the window already fixed.

    Build it with :meth:`build`, which reads today once in the query's own zone,
    so every layer answers for the same days.
    """

    period: Period
    metric: Metric
    zone: Zone
    #: The sample a slot needs for a rate metric to rank it; the count metrics ignore it.
    min_calls: int
    dense: bool
    campaign_id: UUID | None
    client_id: UUID | None
    clock: Clock
    #: With ``clock=lead``: the hours ``best_times`` ranks in; ``None`` for ``clock=tz``.
    calling_hours: CallingHours | None
    start_date: date
    end_date: date
    #: ``[start, end)``: the window's first and just-after-last instants, in UTC.
    start: datetime
    end: datetime

    @classmethod
    def build(
        cls,
        *,
        period: Period = Period.DAYS_30,
        metric: Metric = Metric.CALLS,
        zone: Zone = DEFAULT_ZONE,
        min_calls: int = DEFAULT_MIN_CALLS,
        dense: bool = False,
        campaign_id: UUID | None = None,
        client_id: UUID | None = None,
        clock: Clock = Clock.TZ,
        calling_hours: CallingHours | None = None,
        today: date | None = None,
    ) -> HeatmapQuery:
        """The query for these values, already checked (by :meth:`parse`, or a caller's own
        checks); ``today`` defaults to the current date in ``zone``.
        """
        if today is None:
            today = today_in(zone.tzinfo)
        start_date, end_date = heatmap_window(period, today=today)
        start, end = window_bounds(start_date, end_date, zone=zone.tzinfo)
        return cls(
            period=period,
            metric=metric,
            zone=zone,
            min_calls=min_calls,
            dense=dense,
            campaign_id=campaign_id,
            client_id=client_id,
            clock=clock,
            calling_hours=calling_hours if clock is Clock.LEAD else None,
            start_date=start_date,
            end_date=end_date,
            start=start,
            end=end,
        )

    @classmethod
    def parse(
        cls,
        values: Mapping[str, object],
        *,
        calling_hours: CallingHours | None = None,
        today: date | None = None,
    ) -> HeatmapQuery:
        """The query for plain ``values`` (``{"period": "7d", "dense": "true"}``, or the
        shell's and the admin form's ``Period.DAYS_7``, ``True`` and :class:`Zone`), each
        checked by its parameter's check; a name left out takes its default. Every bad
        value at once: :class:`InvalidQuery`.

        A blank value (``""``) is refused, not read as "not given": ``?client_id=`` is a
        client's bug, which would otherwise widen the answer to every client.
        """
        unknown = set(values) - {parameter.name for parameter, _ in CHECKS}
        if unknown:
            raise TypeError(f"Unknown parameters: {', '.join(sorted(unknown))}")
        checked: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for parameter, check in CHECKS:
            value = values.get(parameter.name, parameter.default)
            if value is None and parameter.default is None:
                checked[parameter.name] = None
                continue
            try:
                if isinstance(value, str) and value == "":
                    raise ValueError(BLANK)
                checked[parameter.name] = check(value)
            except ValueError as exc:
                errors[parameter.name] = str(exc)
        if errors:
            raise InvalidQuery(
                errors, {parameter.name: parameter.choices for parameter, _ in CHECKS}
            )
        return cls.build(
            period=checked["period"],
            metric=checked["metric"],
            zone=checked["tz"],
            min_calls=checked["min_calls"],
            dense=checked["dense"],
            campaign_id=checked["campaign_id"],
            client_id=checked["client_id"],
            clock=checked["clock"],
            calling_hours=calling_hours,
            today=today,
        )

    @property
    def identity(self) -> dict[str, Any]:
        """What the answer depends on, as plain values: the cache key is made from this.

        ``min_calls`` only for a rate metric: the count metrics ignore it, so it must
        not split their cache. The window's dates are in, so no answer outlives its day.
        """
        identity: dict[str, Any] = {
            "period": self.period.value,
            "metric": self.metric.value,
            "tz": self.zone.name,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "campaign_id": None if self.campaign_id is None else str(self.campaign_id),
            "client_id": None if self.client_id is None else str(self.client_id),
            "dense": self.dense,
            "clock": self.clock.value,
        }
        if self.calling_hours is not None:
            identity["calling_hours"] = [self.calling_hours.start, self.calling_hours.end]
        if self.metric.is_rate:
            identity["min_calls"] = self.min_calls
        return identity
