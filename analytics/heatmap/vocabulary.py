"""The heatmap's vocabulary: plain values, free of Django and DRF.

Every query parameter's facts (choices, default, help) are written here once, as a
:class:`Parameter` (``min_calls``' bounds as ``MIN_CALLS_LIMITS``); the endpoint's
serializer, the OpenAPI description (from the serializer's fields), the admin form and
``call_heatmap``'s options all read them.
"""

from __future__ import annotations

import enum
import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, tzinfo
from typing import Any, Generic, TypeVar
from uuid import UUID


class Period(enum.StrEnum):
    DAYS_7 = "7d"
    DAYS_30 = "30d"
    DAYS_90 = "90d"

    @property
    def days(self) -> int:
        return int(self.value.removesuffix("d"))


class Clock(enum.StrEnum):
    """Whose clock a call's day and hour are read on."""

    #: The viewer's: ``tz``.
    TZ = "tz"
    #: The lead's: the local time of the number called (analytics.heatmap.lead_clock).
    LEAD = "lead"


@dataclass(frozen=True, slots=True)
class CallingHours:
    """Lead-local hours ``[start, end)`` calls may be placed in (the setting)."""

    start: int
    end: int

    def allow(self, hour: int) -> bool:
        return self.start <= hour < self.end

    def outside(self, cells: Iterable[HeatmapCell]) -> int:
        """Calls in ``cells`` (lead-local) whose hour is outside these hours."""
        return sum(cell.total_calls for cell in cells if not self.allow(cell.hour))


#: The TCPA's 8 a.m. to 9 p.m. in the called party's local time; hosts may narrow it.
DEFAULT_CALLING_HOURS = (8, 21)


class Metric(enum.StrEnum):
    """What ``best_times`` ranks: a count of calls, or a rate over ``total_calls``."""

    CALLS = "calls"
    CONNECTED = "connected"
    MEETINGS_BOOKED = "meetings_booked"
    CONNECT_RATE = "connect_rate"
    MEETING_RATE = "meeting_rate"

    @property
    def count_field(self) -> str:
        """The heatmap count it ranks by; for a rate, the count over ``total_calls``."""
        return _COUNT_FIELDS[self]

    @property
    def is_rate(self) -> bool:
        return self in _RATES


_COUNT_FIELDS = {
    Metric.CALLS: "total_calls",
    Metric.CONNECTED: "connected_calls",
    Metric.MEETINGS_BOOKED: "meetings_booked",
    Metric.CONNECT_RATE: "connected_calls",
    Metric.MEETING_RATE: "meetings_booked",
}
_RATES = frozenset({Metric.CONNECT_RATE, Metric.MEETING_RATE})

#: ``day`` numbering: 0 is Sunday, as in JavaScript's ``Date.getDay()``.
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

#: A slot needs this many calls before its rate can be a best time (``min_calls``).
DEFAULT_MIN_CALLS = 20
#: ``min_calls`` bounds, inclusive: a rate needs at least one call to divide by.
MIN_CALLS_LIMITS = (1, 100_000)

RATE_DECIMALS = 4


def rate(part: int, whole: int) -> float:
    """``part / whole`` rounded half up to 4 decimals, exactly (``1/32`` is ``0.0313``).

    Integer arithmetic, because ``round()`` on the float would round half to even
    and sometimes the wrong way (binary floats cannot hold most decimal halves).
    """
    if whole <= 0:
        raise ValueError("A rate needs at least one call.")
    scale: int = 10**RATE_DECIMALS
    return (2 * part * scale + whole) // (2 * whole) / scale


def rate_or_none(part: int, whole: int) -> float | None:
    """The rate, or ``None`` without calls: no rate at all, which a rate of 0 would misstate."""
    return rate(part, whole) if whole else None


#: What a bad value of a query parameter is told, by the endpoint's 400 and by ``heatmap()``'s
#: ``ValueError`` alike (:mod:`analytics.heatmap.query` checks): DRF's wording, as the
#: contract's examples show it. ``tz``'s messages are :func:`time_zone`'s.
BLANK = "This field may not be blank."
INVALID_CHOICE = '"{value}" is not a valid choice.'
INVALID_UUID = "Must be a valid UUID."
INVALID_INTEGER = "A valid integer is required."
#: Longer than any integer ``min_calls`` could mean: refused before ``int()`` reads it.
MAX_INTEGER_LENGTH = 1000
INTEGER_TOO_LONG = "String value too large."
BELOW_MINIMUM = "Ensure this value is greater than or equal to {limit}."
ABOVE_MAXIMUM = "Ensure this value is less than or equal to {limit}."
INVALID_FLAG = 'Must be "true", "false", "1" or "0".'
#: ``dense``'s spellings, in any case: a query string's, and what ``heatmap()`` also takes.
TRUE_FLAGS = frozenset({"true", "1"})
FALSE_FLAGS = frozenset({"false", "0"})


def parse_agency_id(value: str) -> UUID:
    """An agency id as typed by staff, or ``ValueError`` with the one line to show them."""
    try:
        return UUID(value.strip())
    except (ValueError, AttributeError):
        raise ValueError(f"{value!r} is not a valid UUID.") from None


#: The default zone, answered without the zone database so the default never needs one.
DEFAULT_TIME_ZONE = "UTC"
#: ``+05:30``, ``UTC+3``, ``Etc/GMT-3``: offsets, which do not follow daylight-saving time.
_OFFSET = re.compile(r"[+-]\d")
#: Not places: ``localtime`` is the server's own zone (a file in many zone directories)
#: and ``Factory`` means "zone unknown"; Django also misreads the latter's "-00" name.
_NOT_PLACES = frozenset({"localtime", "Factory"})
#: Zone names PostgreSQL reads as its fixed-offset abbreviations (it tries those first:
#: ``AT TIME ZONE 'CET'`` is always +01:00), mapped to the zone of the same rules,
#: daylight-saving time included (the zone database's own links since 2024b).
_ABBREVIATION_ZONES = {
    "CET": "Europe/Brussels",
    "MET": "Europe/Brussels",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
}


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA names ``tz`` accepts: the zone database's, spelled exactly, no offsets.

    Offset names are left out because they are what ``tz`` exists to replace, and
    because Django's backends read ``Etc/GMT-10`` as the zone ``Etc/GMT`` minus 10 hours.
    """
    known = zoneinfo.available_timezones() - _NOT_PLACES
    return frozenset(name for name in known if not _OFFSET.search(name)) | {DEFAULT_TIME_ZONE}


def time_zone(name: str) -> tzinfo:
    """The zone called ``name``, or ``ValueError``.

    Only names listed by :func:`time_zone_names` reach ``ZoneInfo``, which would
    otherwise take ``../`` paths and odd keys to the file system. A name PostgreSQL
    would misread as an abbreviation (``CET``) resolves to a zone of its rules.
    """
    if name == DEFAULT_TIME_ZONE:
        return UTC
    if name in time_zone_names():
        return zoneinfo.ZoneInfo(_ABBREVIATION_ZONES.get(name, name))
    if _OFFSET.search(name):
        raise ValueError(
            "Use a time zone name such as America/New_York, not a UTC offset: "
            "offsets do not follow daylight-saving time."
        )
    raise ValueError("Unknown time zone; use an IANA name such as America/New_York.")


@dataclass(frozen=True, slots=True)
class Zone:
    """An accepted zone: the name as asked (and answered) and the ``tzinfo`` it resolved to.

    Resolved once, where a name comes in, so no later layer looks the name up again.
    """

    name: str
    tzinfo: tzinfo

    @classmethod
    def named(cls, name: str) -> Zone:
        """The zone called ``name``, or ``ValueError`` (see :func:`time_zone`)."""
        return cls(name, time_zone(name))


#: ``tz`` when none is given.
DEFAULT_ZONE = Zone(DEFAULT_TIME_ZONE, UTC)


#: What a parameter's default is: a string, a number, a flag, or ``None`` for none.
Default = TypeVar("Default", str, int, bool, None)


@dataclass(frozen=True, slots=True)
class Parameter(Generic[Default]):
    """One query parameter's facts, as the query string spells them; ``help`` is Markdown."""

    name: str
    help: str
    default: Default
    choices: tuple[str, ...] = ()

    @property
    def plain_help(self) -> str:
        """``help`` without Markdown's code marks, for the admin form and the terminal."""
        return self.help.replace("`", "")


def choice_parameter(name: str, help: str, default: enum.StrEnum) -> Parameter[str]:
    """A parameter whose choices are the values of ``default``'s enum, in its order."""
    choices = tuple(choice.value for choice in type(default))
    return Parameter(name, help, default=default.value, choices=choices)


PERIOD = choice_parameter(
    "period", "The last 7, 30 or 90 calendar days, today included (in `tz`).", Period.DAYS_30
)
METRIC = choice_parameter(
    "metric",
    "What `best_times` ranks. The counts rank by the count; the rates (`connect_rate`, "
    "`meeting_rate`) by the lower bound of the 95% Wilson score interval, among slots with "
    "at least `min_calls` calls.",
    Metric.CALLS,
)
CAMPAIGN_ID = Parameter(
    "campaign_id", "Only this campaign's calls (within the caller's agency).", default=None
)
CLIENT_ID = Parameter(
    "client_id", "Only this client's calls (within the caller's agency).", default=None
)
TZ = Parameter(
    "tz",
    "IANA time zone name, spelled as in the zone database (`America/New_York`), that days, "
    "hours and the window are counted in. UTC offsets (`+05:30`, `Etc/GMT-3`) and unknown "
    "names are refused.",
    default=DEFAULT_TIME_ZONE,
)
CLOCK = choice_parameter(
    "clock",
    "Whose clock each call's day and hour are read on: `tz`, the viewer's, or `lead`, the "
    "local time of the number called (placed by libphonenumber's time-zone map; calls it "
    "cannot place are counted in `unplaced_calls`). The window is the period's dates in `tz` "
    "either way.",
    Clock.TZ,
)
MIN_CALLS = Parameter(
    "min_calls",
    "Calls a slot needs before a rate metric can rank it. Count metrics ignore it.",
    default=DEFAULT_MIN_CALLS,
)
DENSE = Parameter(
    "dense",
    "`true` or `1` returns all 168 slots, zero-filled; `false` or `0` only slots with calls. "
    "Any case.",
    default=False,
)


class CallCounts:
    """The three counts and what is read from them; mixed into whatever holds them."""

    __slots__ = ()
    total_calls: int
    connected_calls: int
    meetings_booked: int

    def count(self, metric: Metric) -> int:
        value: int = getattr(self, metric.count_field)
        return value

    @property
    def connect_rate(self) -> float | None:
        return rate_or_none(self.connected_calls, self.total_calls)

    @property
    def meeting_rate(self) -> float | None:
        return rate_or_none(self.meetings_booked, self.total_calls)


@dataclass(frozen=True, slots=True)
class HeatmapCell(CallCounts):
    day: int
    hour: int
    total_calls: int
    connected_calls: int
    meetings_booked: int

    def as_body(self) -> dict[str, Any]:
        """The cell as an entry of the body's ``heatmap``."""
        return {
            "day": self.day,
            "hour": self.hour,
            "total_calls": self.total_calls,
            "connected_calls": self.connected_calls,
            "meetings_booked": self.meetings_booked,
            "connect_rate": self.connect_rate,
            "meeting_rate": self.meeting_rate,
        }


def fold_into_week(hourly: Iterable[Mapping[str, Any]]) -> tuple[HeatmapCell, ...]:
    """Per-hour counts (``local_hour`` a local wall-clock datetime) summed into weekly slots.

    Cells come out sparse, sorted by day then hour; ``day`` 0 is Sunday.
    """
    totals: dict[tuple[int, int], list[int]] = {}
    for row in hourly:
        moment = row["local_hour"]
        counts = totals.setdefault((moment.isoweekday() % 7, moment.hour), [0, 0, 0])
        counts[0] += row["total_calls"]
        counts[1] += row["connected_calls"]
        counts[2] += row["meetings_booked"]
    return tuple(HeatmapCell(day, hour, *counts) for (day, hour), counts in sorted(totals.items()))


def dense_grid(cells: Iterable[HeatmapCell]) -> tuple[HeatmapCell, ...]:
    """All 168 (day, hour) slots in day-then-hour order, those without calls zero-filled."""
    counted = {(cell.day, cell.hour): cell for cell in cells}
    return tuple(
        counted.get((day, hour), HeatmapCell(day, hour, 0, 0, 0))
        for day in range(len(DAY_NAMES))
        for hour in range(24)
    )


@dataclass(frozen=True, slots=True)
class BestTime:
    day: int
    hour: int
    #: A count for the count metrics, the observed rate (4 decimals) for the rates.
    metric_value: int | float
    label: str
    #: The rate's sample size; ``None`` for a count metric, which is its own sample.
    total_calls: int | None = None

    def as_body(self) -> dict[str, Any]:
        """The best time as an entry of the body's ``best_times``; ``total_calls`` for a rate."""
        body: dict[str, Any] = {
            "day": self.day,
            "hour": self.hour,
            "metric_value": self.metric_value,
            "label": self.label,
        }
        if self.total_calls is not None:
            body["total_calls"] = self.total_calls
        return body


@dataclass(frozen=True, slots=True)
class Heatmap:
    start_date: date
    end_date: date
    metric: Metric
    #: The IANA zone the window is in, and with ``clock=tz`` the cells' days and hours.
    timezone: str
    cells: tuple[HeatmapCell, ...]
    best_times: tuple[BestTime, ...]
    clock: Clock = Clock.TZ
    #: ``clock=lead``: ended calls in the window the lead's clock could not place.
    unplaced_calls: int | None = None
    #: ``clock=lead`` with calling hours: placed calls outside them, lead-local.
    outside_calling_hours: int | None = None

    def as_body(self) -> dict[str, Any]:
        """The endpoint's JSON body for this heatmap, in JSON's types and the endpoint's
        key order: ``json.dumps(result.as_body())`` is what ``GET /api/dashboard-heatmap``
        answers for the same query. The endpoint's serializer answers exactly this, so the
        shell, the command's ``--json``, the admin's JSON and the endpoint cannot differ.
        """
        return {
            "period": {
                "start_date": self.start_date.isoformat(),
                "end_date": self.end_date.isoformat(),
            },
            "metric": self.metric.value,
            "timezone": self.timezone,
            "clock": self.clock.value,
            "unplaced_calls": self.unplaced_calls,
            "outside_calling_hours": self.outside_calling_hours,
            "heatmap": [cell.as_body() for cell in self.cells],
            "best_times": [best.as_body() for best in self.best_times],
        }
