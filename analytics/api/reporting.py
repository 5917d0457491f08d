"""Each heatmap answer told to operators: a log line, a ``Server-Timing`` header, metrics.

What is told is the answer's :class:`~analytics.heatmap.measure.Measurement` (which source
answered, its database time, its scan wait), the HTTP status, and the query's checked
choices (clock, period, metric). Never the token, the user, the agency or a filter's id:
the line is safe to ship to any log store, and the metrics' labels stay few.
``docs/operating.md`` describes all three.
"""

from __future__ import annotations

import logging
from importlib.util import find_spec

from django.http import HttpResponseBase

from analytics.conf import conf
from analytics.heatmap.measure import Measurement
from analytics.heatmap.query import HeatmapQuery

#: One INFO line per heatmap answer, under the ``analytics`` logger: a host routes or
#: silences this name alone.
logger = logging.getLogger("analytics.heatmap.requests")

#: The source of an answer refused before any read (401, 403, 400, 429).
NO_SOURCE = "none"
#: A field the answer has no value for (a refused query has no checked period).
NO_VALUE = "-"

if find_spec("prometheus_client") is not None:
    from analytics.api.metrics import observe_answer
else:

    def observe_answer(*, source: str, status: int, measurement: Measurement) -> None:
        """prometheus_client is not installed (the ``prometheus`` extra): nothing to count."""


def report_answer(
    response: HttpResponseBase, measurement: Measurement, query: HeatmapQuery | None
) -> None:
    """Log the answer, count it, and with ``ANALYTICS_SERVER_TIMING`` tell it in a header."""
    source = measurement.source or NO_SOURCE
    if logger.isEnabledFor(logging.INFO):  # a host that silences the line pays nothing for it
        fields = answer_fields(source, response.status_code, measurement, query)
        line = " ".join(f"{name}={value}" for name, value in fields.items())
        logger.info("heatmap %s", line, extra=fields)
    observe_answer(source=source, status=response.status_code, measurement=measurement)
    if conf.SERVER_TIMING:
        response["Server-Timing"] = server_timing(source, measurement)


def answer_fields(
    source: str, status: int, measurement: Measurement, query: HeatmapQuery | None
) -> dict[str, str | int | float]:
    """The log line's fields, in its order; also the record's attributes, for JSON logs."""
    return {
        "source": source,
        "status": status,
        "database_ms": milliseconds(measurement.database_seconds),
        "scan_wait_ms": milliseconds(measurement.scan_wait_seconds),
        "clock": NO_VALUE if query is None else query.clock.value,
        "period": NO_VALUE if query is None else query.period.value,
        "metric": NO_VALUE if query is None else query.metric.value,
    }


def server_timing(source: str, measurement: Measurement) -> str:
    """The ``Server-Timing`` value: the source as a description, the two times in ms."""
    return (
        f'source;desc="{source}", '
        f"db;dur={milliseconds(measurement.database_seconds)}, "
        f"scan-wait;dur={milliseconds(measurement.scan_wait_seconds)}"
    )


def milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 1)
