"""The lead's clock (``clock=lead``) beside the viewer's (``clock=tz``), in the reads' rounds.

:mod:`bench.reads` times these with its own measures, alternating in the same rounds: the
endpoint on the raw scan and on the rollup (whatever ``cells_for`` reads for
``clock=lead`` when the rollup is installed), each side's query alone, and the answers
compared byte for byte. What a window's zone offsets cost the first request is measured
in a fresh process (``lead_offsets`` is cached per window after that).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    DATABASE,
    RAW,
    ROLLUP,
    Line,
    Sample,
    answer_runner,
    calls_read,
    configure_django,
    explain,
    in_fresh_process,
    number,
    statement_runner,
    statements_of,
    timed_ms,
    use_source,
    window,
)
from bench.dataset import BIG_AGENCY_USER_ID, CAMPAIGNS, SMALL_AGENCY_USER_ID
from heatmap_project.harness import Connection

LEAD = {"clock": "lead"}
#: The goal of both ratios: clock=lead within 2x of clock=tz from the same source.
GOAL = 2.0


def rollup_reads(run: Callable[[], object]) -> list[str]:
    """The request's reads of the rollup's schema; none when it read ``calls`` instead."""
    sqls = statements_of(run)
    if any('FROM "calls"' in sql for sql in sqls):
        return []
    return [sql for sql in sqls if '"analytics_heatmap".' in sql]


def comparisons(period: str) -> dict[str, tuple[dict[str, str], uuid.UUID]]:
    """The ``clock=lead`` requests whose rollup and raw answers must be the same bytes."""
    lead = {"period": period, **LEAD}
    campaign = {**lead, "campaign_id": str(CAMPAIGNS[3])}
    return {
        "clock=lead, unfiltered": (lead, BIG_AGENCY_USER_ID),
        "clock=lead, one campaign, meeting_rate": (
            {**campaign, "metric": "meeting_rate"},
            BIG_AGENCY_USER_ID,
        ),
        "clock=lead, Asia/Kolkata window, dense": (
            {**lead, "tz": "Asia/Kolkata", "dense": "1"},
            BIG_AGENCY_USER_ID,
        ),
        "clock=lead, small agency": (lead, SMALL_AGENCY_USER_ID),
    }


def rollup_answers_lead(period: str) -> bool:
    """Whether, with the rollup installed, a ``clock=lead`` request reads it."""
    use_source(ROLLUP)
    return bool(rollup_reads(answer_runner({"period": period, **LEAD})))


def describe_answer(period: str) -> None:
    """How the dataset's numbers came out: placed, not placed, outside the calling hours."""
    use_source(RAW)
    body = json.loads(answer_runner({"period": period, **LEAD})())
    placed = sum(cell["total_calls"] for cell in body["heatmap"])
    unplaced = body["unplaced_calls"]
    outside = body["outside_calling_hours"]
    print(
        f"clock=lead, {period}: {placed:,} calls placed, {unplaced:,} not placed "
        f"({unplaced / (placed + unplaced):.1%}), {outside:,} of the placed outside the "
        f"calling hours"
    )


@dataclass
class LeadReads:
    """The lead's runners, per source, as :func:`bench.reads.time_reads` times them."""

    raw: dict[str, Callable[[], object]] = field(default_factory=dict)
    rollup: dict[str, Callable[[], object]] = field(default_factory=dict)
    #: The statements each query-alone runner sends, for ``--explain``.
    statements: dict[str, list[str]] = field(default_factory=dict)


def lead_reads(connection: Connection, *, period: str, from_rollup: bool) -> LeadReads:
    """The endpoint with ``clock=lead`` and ``clock=tz`` on the raw scan, each one's
    ``calls`` query alone in its transaction (as the endpoint sends it); and on the rollup,
    when it answers ``clock=lead``, the endpoint and its reads of the rollup alone.
    """
    from analytics.heatmap.limits import heatmap_settings

    unfiltered = {"period": period}
    lead = answer_runner({**unfiltered, **LEAD})
    reads = LeadReads()
    use_source(RAW)
    for clock, run in (("tz", answer_runner(unfiltered)), ("lead", lead)):
        sql = calls_read(run)
        reads.statements[f"raw, clock={clock}"] = [sql]
        reads.raw[f"raw query alone, clock={clock}"] = statement_runner(
            connection, sql, settings=heatmap_settings()
        )
    reads.raw["endpoint, raw scan, clock=lead"] = lead
    if from_rollup:
        use_source(ROLLUP)
        sqls = rollup_reads(lead)
        queries = [statement_runner(connection, sql) for sql in sqls]
        reads.statements["rollup, clock=lead"] = sqls
        reads.rollup["endpoint, rollup, clock=lead"] = lead
        reads.rollup["rollup query alone, clock=lead"] = lambda: [query() for query in queries]
    return reads


def explain_lead(connection: Connection, reads: LeadReads) -> None:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of each ``clock=lead`` statement, under the settings."""
    from analytics.heatmap.limits import heatmap_settings

    for name, sqls in reads.statements.items():
        if "clock=lead" not in name:
            continue
        for sql in sqls:
            print(f"\n-- {name}, under the endpoint's settings\n{sql}\n")
            print(explain(connection, sql, None, heatmap_settings()))


def _first_offsets(database_url: str, period: str, queue: Any) -> None:
    """In a fresh process: the map's read (its version, every request), then
    ``lead_offsets`` cold and cached."""
    configure_django(database_url)
    from analytics.heatmap.lead_clock import lead_offsets
    from analytics.heatmap.lead_scan import loaded_map

    start, end = window(period)
    loaded_map(DATABASE)  # the connection opened, the map read and cached
    read_ms = timed_ms(lambda: loaded_map(DATABASE))
    groups = loaded_map(DATABASE).groups
    cold = timed_ms(lambda: lead_offsets(groups, start, end))
    cached = timed_ms(lambda: lead_offsets(groups, start, end))
    offsets = lead_offsets(groups, start, end)
    zones = len({zone for group in groups for zone in group})
    queue.put((read_ms, cold, cached, len(groups), zones, len(offsets.changes)))


def first_offsets_line(database_url: str, period: str) -> Line:
    """What computing a window's offsets costs the first ``clock=lead`` request."""
    read_ms, cold, cached, groups, zones, changes = in_fresh_process(
        _first_offsets, database_url, period, timeout=600
    )
    print(
        f"a window's zone offsets ({groups} groups, {zones} zones, {changes} offset changes "
        f"in {period}): {number(cold)} ms the first time in a process, {number(cached)} ms "
        f"cached; the map's version, read every request: {number(read_ms)} ms"
    )
    return Line(
        "  first clock=lead request of a window: its offsets",
        with_=f"{number(cold)} ms once, then cached ({number(read_ms)} ms a request)",
    )


def lines(samples: dict[str, Sample], period: str) -> list[Line]:
    """clock=lead against clock=tz, on each source: the endpoint (the goal) and the query."""
    pairs = (
        ("endpoint, raw scan", "endpoint, raw scan, unfiltered", "endpoint, raw scan, clock=lead"),
        ("  query alone, raw scan", "raw query alone, clock=tz", "raw query alone, clock=lead"),
        ("endpoint, rollup", "endpoint, rollup, unfiltered", "endpoint, rollup, clock=lead"),
        (
            "  query alone, rollup",
            "rollup query alone, unfiltered",
            "rollup query alone, clock=lead",
        ),
    )
    found = []
    for measure, tz_label, lead_label in pairs:
        name = f"{period} {measure}" if measure.startswith("endpoint") else measure
        name += ", clock=tz | clock=lead"
        goal = f"lead <= {GOAL:.0f}x tz" if measure.startswith("endpoint") else ""
        tz, lead = samples[tz_label], samples.get(lead_label)
        if lead is None:
            found.append(Line(name, tz.show(), "the rollup does not answer clock=lead", "", goal))
            continue
        ratio = lead.median / tz.median
        met = ratio <= GOAL if goal else None
        found.append(Line(name, tz.show(), lead.show(), f"{ratio:.2f}x", goal, met))
    return found
