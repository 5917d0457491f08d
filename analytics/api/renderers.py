"""The heatmap as CSV, and how a request picks JSON or CSV.

A CSV file holds the cells, one row each, for a spreadsheet. Anything else the
endpoint answers (an error, ``OPTIONS``) stays JSON whatever was asked for: the
client needs to read why it got no file.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import TooManyFieldsSent
from django.utils.http import parse_header_parameters
from rest_framework.exceptions import ErrorDetail, NotAcceptable, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings

from analytics.api.serializers import repeated_parameters
from analytics.heatmap.vocabulary import DAY_NAMES, Clock

#: The CSV header row: the heatmap entry's fields, with the day's English name beside its number.
CSV_COLUMNS = (
    "day",
    "day_name",
    "hour",
    "total_calls",
    "connected_calls",
    "meetings_booked",
    "connect_rate",
    "meeting_rate",
)
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def heatmap_csv(body: Mapping[str, Any]) -> str:
    """The ``heatmap`` entries of an endpoint body as CSV; a rate without calls is empty.

    Takes the serialized body, not the selector's result, so the CSV and the
    JSON cannot disagree. Lines end in CRLF (RFC 4180). The cells only: ``unplaced_calls``
    and ``outside_calling_hours`` are in the JSON alone, as a row of a spreadsheet is a slot.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for cell in body["heatmap"]:
        row = {**cell, "day_name": DAY_NAMES[cell["day"]]}
        writer.writerow("" if row[column] is None else row[column] for column in CSV_COLUMNS)
    return out.getvalue()


def csv_filename(body: Mapping[str, Any]) -> str:
    """``call-heatmap-<start>-to-<end>-<metric>[-lead].csv``: the window, the metric and the
    clock, never the agency.

    The dates rather than ``30d``: a file saved today and one saved next week
    hold different days and should not share a name. A file on the lead's clock ends in
    ``-lead``, as its days and hours are not ``timezone``'s; the viewer's clock (``tz``,
    the default) keeps the name files had before there was a choice.
    """
    period = body["period"]
    clock = "" if body.get("clock", Clock.TZ) == Clock.TZ else f"-{body['clock']}"
    return (
        f"call-heatmap-{period['start_date']}-to-{period['end_date']}-{body['metric']}{clock}.csv"
    )


def csv_content_disposition(body: Mapping[str, Any]) -> str:
    return f'attachment; filename="{csv_filename(body)}"'


def is_heatmap_body(data: Any) -> bool:
    return isinstance(data, Mapping) and isinstance(data.get("heatmap"), list)


class HeatmapCSVRenderer(BaseRenderer):
    """``text/csv``: a heatmap body as a CSV attachment; any other body as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if not is_heatmap_body(data) or (response is not None and response.status_code >= 400):
            # DRF has already labelled the response text/csv; relabel it as what it is.
            if response is not None:
                response["Content-Type"] = JSONRenderer.media_type
            return JSONRenderer().render(data, JSONRenderer.media_type, renderer_context)
        if response is not None:
            response["Content-Disposition"] = csv_content_disposition(data)
        return heatmap_csv(data).encode(self.charset)


class FormatParamNegotiation(DefaultContentNegotiation):
    """``?format=json|csv`` wins over ``Accept``; any other format, or ``format`` given more
    than once, is a 400 naming ``format``.

    DRF's default answers an unknown format with 404 (as if the endpoint did not
    exist) and a format at odds with ``Accept`` with 406. Here ``format`` is a
    query parameter like the others: a bad value is a field error, and a good one
    is what the caller gets. The parameter's name is fixed, whatever the host's
    ``URL_FORMAT_OVERRIDE``, because it is part of the endpoint's contract.
    """

    format_param = "format"

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        try:
            params = request.query_params
        except TooManyFieldsSent as exc:
            # Django's own answer would be its HTML 400 page.
            message = ErrorDetail("Too many query parameters.", code="too_many_parameters")
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]}) from exc
        # Before anything reads it: ``QueryDict.get`` would answer the last of several.
        if repeated := repeated_parameters(params, [self.format_param]):
            raise ValidationError(repeated)
        wanted = format_suffix or params.get(self.format_param)
        if wanted is None:
            acceptable = self.acceptable_renderers(request, renderers)
            if not acceptable:
                raise NotAcceptable()
            chosen: tuple[BaseRenderer, str] = super().select_renderer(
                request, acceptable, format_suffix
            )
            return chosen
        for renderer in renderers:
            if renderer.format == wanted:
                return renderer, renderer.media_type
        message = ErrorDetail(f'"{wanted}" is not a valid choice.', code="invalid_choice")
        raise ValidationError({self.format_param: [message]})

    def acceptable_renderers(
        self, request: Request, renderers: Iterable[BaseRenderer]
    ) -> list[BaseRenderer]:
        """``renderers`` but those ``Accept`` refuses with ``q=0`` (RFC 9110, 12.4.2).

        DRF orders ``Accept`` by how specific each range is and ignores ``q``, so
        ``text/csv;q=0`` would still be answered in CSV. A renderer is refused when
        the most specific range that matches its media type has ``q=0``.
        """
        ranges = [_accept_range(item) for item in self.get_accept_list(request)]
        acceptable = []
        for renderer in renderers:
            main, _, sub = renderer.media_type.partition("/")
            matching = [
                (precedence, quality)
                for (range_main, range_sub, precedence, quality) in ranges
                if range_main in ("*", main) and range_sub in ("*", sub)
            ]
            if not matching or max(matching)[1] > 0:
                acceptable.append(renderer)
        return acceptable


def _accept_range(item: str) -> tuple[str, str, int, float]:
    """One ``Accept`` entry as (type, subtype, how specific, ``q``); a bad ``q`` counts as 1.

    How specific, as DRF ranks it: ``*/*`` 0, ``type/*`` 1, ``type/sub`` 2, with parameters 3.
    """
    try:
        full_type, params = parse_header_parameters(item)
    except ValueError:
        full_type, params = "", {}
    main, _, sub = full_type.lower().partition("/")
    if main == "*":
        precedence = 0
    elif sub == "*":
        precedence = 1
    else:
        precedence = 3 if set(params) - {"q"} else 2
    try:
        quality = float(params.get("q", "1"))
    except ValueError:
        quality = 1.0
    return main, sub, precedence, quality if math.isfinite(quality) else 1.0
