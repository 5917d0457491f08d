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
from rest_framework.renderers import JSONRenderer

from analytics.api.serializers import HeatmapQuerySerializer, HeatmapSerializer
from analytics.exceptions import HeatmapError
from analytics.heatmap import presentation
from analytics.heatmap.query import HeatmapQuery
from analytics.heatmap.selectors import heatmap_for, require_agency
from analytics.heatmap.vocabulary import (
    CAMPAIGN_ID,
    CLIENT_ID,
    CLOCK,
    METRIC,
    MIN_CALLS,
    PERIOD,
    TZ,
    Heatmap,
    Parameter,
    parse_agency_id,
)

#: The endpoint's query parameters this command passes on, as ``--option-name``, each with
#: the placeholder its help shows (a parameter with choices shows them instead).
QUERY_PARAMETERS: tuple[tuple[Parameter[Any], str | None], ...] = (
    (PERIOD, None),
    (METRIC, None),
    (TZ, "ZONE"),
    (MIN_CALLS, "N"),
    (CAMPAIGN_ID, "UUID"),
    (CLIENT_ID, "UUID"),
    (CLOCK, None),
)
QUERY_OPTIONS = tuple(parameter.name for parameter, _ in QUERY_PARAMETERS)


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def option_help(parameter: Parameter[Any]) -> str:
    """The parameter's help, with its default if it has one, ``%`` escaped for argparse."""
    default = "" if parameter.default is None else f" (default {parameter.default})"
    return f"{parameter.plain_help}{default}".replace("%", "%%")  # argparse %-formats help


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
        # The endpoint's parameters, as the vocabulary describes them.
        for parameter, metavar in QUERY_PARAMETERS:
            parser.add_argument(
                option_name(parameter.name),
                choices=parameter.choices or None,
                metavar=metavar,
                help=option_help(parameter),
            )
        parser.add_argument(
            "--dense",
            action="store_true",
            help="With --json: all 168 slots, not only busy ones (the grid always shows them).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the endpoint's JSON body instead."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dense"] and not options["json"]:
            # Said, not ignored: the grid has every slot already.
            raise CommandError("--dense: only with --json; the grid always shows all 168 slots.")
        try:
            agency_id = parse_agency_id(options["agency"])
        except ValueError as exc:
            raise CommandError(f"--agency: {exc}") from None
        params = HeatmapQuerySerializer(data=self.query_from(options))
        if not params.is_valid():
            raise CommandError(describe_errors(params.errors))
        query = params.query
        try:
            require_agency(agency_id=agency_id)
            result = heatmap_for(agency_id=agency_id, query=query)
        except HeatmapError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            body = JSONRenderer().render(HeatmapSerializer(result).data)
            self.stdout.write(body.decode())
            return
        self.write_heatmap(agency_id, result, query=query)

    def query_from(self, options: dict[str, Any]) -> dict[str, str]:
        """The options given, as the endpoint's query string would carry them.

        Options left out stay out, so the serializer's defaults are the endpoint's.
        """
        query = {name: options[name] for name in QUERY_OPTIONS if options.get(name) is not None}
        if options["dense"]:
            query["dense"] = "true"
        return query

    def write_heatmap(self, agency_id: UUID, result: Heatmap, *, query: HeatmapQuery) -> None:
        metric, min_calls = result.metric, query.min_calls
        grid = presentation.build_grid(result, min_calls=min_calls)
        blocks = presentation.blocks_for(getattr(self.stdout, "encoding", None))
        name = presentation.metric_name(metric)
        days = (result.end_date - result.start_date).days + 1
        write = self.stdout.write

        def say(text: str, *, indent: str = "") -> None:
            """A sentence, wrapped to the terminal's width as the grid is."""
            for line in presentation.wrapped(text, indent=indent):
                write(line)

        say(
            f"Agency {agency_id}: {result.start_date} to {result.end_date} ({days} days), "
            f"{presentation.clock_caption(result)}."
        )
        top = presentation.format_value(grid.maximum, is_rate=metric.is_rate, decimals=1)
        scope = f" among slots with {min_calls}+ calls" if metric.is_rate else ""
        say(f"Shaded by {name}; the top slot{scope} has {top}.")
        write("")
        for line in presentation.render_text(grid, blocks=blocks):
            write(line.rstrip())
        write("")
        write(f"Best times ({name}):")
        if not result.best_times:
            within = " inside the calling hours" if query.calling_hours else ""
            enough = f" with {min_calls}+ calls" if scope else ""
            say(f"none: no slot{within} has any{enough}", indent="  ")
        for rank, best in enumerate(presentation.best_times_text(result), start=1):
            sample = f" of {best.total_calls} calls" if best.total_calls is not None else ""
            write(f"  {rank}. {best.label:<16} {best.value}{sample}")
        totals = presentation.totals_text(grid.totals)
        write("")
        say(
            f"Totals: {totals.calls} calls, {totals.connected} connected "
            f"({totals.connect_rate}), {totals.meetings} meetings booked ({totals.meeting_rate})."
        )
        lead_clock = presentation.lead_clock_text(result, query.calling_hours)
        if lead_clock is not None:
            for line in presentation.lead_clock_lines(lead_clock):
                say(line)
