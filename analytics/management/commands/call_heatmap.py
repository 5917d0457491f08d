"""``python manage.py call_heatmap --agency <uuid>``: the heatmap in a terminal, or as JSON.

Options are validated by the endpoint's own query serializer and ``--json``
goes through the endpoint's serializer and renderer, so what it prints is the
body ``GET /api/dashboard-heatmap`` answers with the same options (a test
compares the two).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from rest_framework.renderers import JSONRenderer

from analytics import presentation
from analytics.domain import CallsQueryError, Heatmap, ScanSlotsBusy
from analytics.selectors import agency_exists, heatmap_for
from analytics.serializers import (
    HeatmapQuerySerializer,
    HeatmapSerializer,
    parameter_default,
    parameter_help,
    query_parameter,
)

#: The endpoint's query parameters this command passes on, as ``--option-name``.
QUERY_OPTIONS = ("period", "metric", "tz", "min_calls", "campaign_id", "client_id")


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def option_help(field: str) -> str:
    """The query serializer's help for ``field``, with its default, ``%`` escaped for argparse."""
    help_text = f"{parameter_help(field)} (default {parameter_default(field)})"
    return help_text.replace("%", "%%")  # argparse %-formats help strings


def option_choices(field: str) -> list[str]:
    return [str(choice) for choice in getattr(query_parameter(field), "choices", {})]


def describe_errors(errors: dict[str, Any]) -> str:
    """Serializer errors as ``--period: "1y" is not a valid choice.`` lines."""
    lines = []
    for field, messages in errors.items():
        name = option_name(field) if field in QUERY_OPTIONS or field == "dense" else field
        for message in messages if isinstance(messages, list) else [messages]:
            lines.append(f"{name}: {message}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Show when an agency's calls happen: a day-by-hour grid shaded by value, a legend "
        "and the best times to call; or, with --json, the endpoint's JSON body."
    )
    # A read-only report: it needs the database, not the token secret the checks ask for.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agency", required=True, metavar="UUID", help="The agency's id.")
        # The endpoint's parameters, described by its query serializer's fields.
        parser.add_argument(
            "--period", choices=option_choices("period"), help=option_help("period")
        )
        parser.add_argument(
            "--metric", choices=option_choices("metric"), help=option_help("metric")
        )
        parser.add_argument("--tz", metavar="ZONE", help=option_help("tz"))
        parser.add_argument("--min-calls", metavar="N", help=option_help("min_calls"))
        parser.add_argument("--campaign-id", metavar="UUID", help=parameter_help("campaign_id"))
        parser.add_argument("--client-id", metavar="UUID", help=parameter_help("client_id"))
        parser.add_argument(
            "--dense", action="store_true", help="With --json: all 168 slots, not only busy ones."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the endpoint's JSON body instead."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agency_id = self.parse_agency(options["agency"])
        params = HeatmapQuerySerializer(data=self.query_from(options))
        if not params.is_valid():
            raise CommandError(describe_errors(params.errors))
        query = params.query
        self.check_agency(agency_id)
        try:
            result = heatmap_for(agency_id=agency_id, query=query)
        except ScanSlotsBusy as exc:
            raise CommandError(f"{exc}; try again in {exc.retry_after} s.") from exc
        except CallsQueryError as exc:
            raise CommandError("Failed to query the calls table; the error is logged.") from exc
        if options["json"]:
            body = JSONRenderer().render(HeatmapSerializer(result).data)
            self.stdout.write(body.decode())
            return
        self.write_heatmap(agency_id, result, min_calls=query.min_calls)

    def query_from(self, options: dict[str, Any]) -> dict[str, str]:
        """The options given, as the endpoint's query string would carry them.

        Options left out stay out, so the serializer's defaults are the endpoint's.
        """
        query = {name: options[name] for name in QUERY_OPTIONS if options.get(name) is not None}
        if options["dense"]:
            query["dense"] = "true"
        return query

    def parse_agency(self, value: str) -> UUID:
        try:
            return UUID(value)
        except ValueError:
            raise CommandError(f"--agency: {value!r} is not a valid UUID.") from None

    def check_agency(self, agency_id: UUID) -> None:
        try:
            known = agency_exists(agency_id=agency_id)
        except DatabaseError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(f"Cannot read the users and calls tables: {reason}") from exc
        if not known:
            raise CommandError(
                f"--agency: no calls and no users belong to agency {agency_id}. Check the id."
            )

    def write_heatmap(self, agency_id: UUID, result: Heatmap, *, min_calls: int) -> None:
        metric = result.metric
        grid = presentation.build_grid(result, min_calls=min_calls)
        blocks = presentation.blocks_for(getattr(self.stdout, "encoding", None))
        name = presentation.metric_name(metric)
        days = (result.end_date - result.start_date).days + 1
        write = self.stdout.write
        write(
            f"Agency {agency_id}: {result.start_date} to {result.end_date} ({days} days), "
            f"hours in {result.timezone}."
        )
        top = presentation.format_value(grid.maximum, is_rate=metric.is_rate, decimals=1)
        scope = f" among slots with {min_calls}+ calls" if metric.is_rate else ""
        write(f"Shaded by {name}; the top slot{scope} has {top}.")
        write("")
        for line in presentation.render_text(grid, blocks=blocks):
            write(line.rstrip())
        write("")
        write(f"Best times ({name}):")
        if not result.best_times:
            write("  none: no slot has any" + (f" with {min_calls}+ calls" if scope else ""))
        for rank, best in enumerate(presentation.best_times_text(result), start=1):
            sample = f" of {best.total_calls} calls" if best.total_calls is not None else ""
            write(f"  {rank}. {best.label:<16} {best.value}{sample}")
        totals = presentation.totals_text(grid.totals)
        write("")
        write(
            f"Totals: {totals.calls} calls, {totals.connected} connected "
            f"({totals.connect_rate}), {totals.meetings} meetings booked ({totals.meeting_rate})."
        )
