"""The rollup's reads: the endpoint through Django, raw scan against rollup.

Unfiltered and for one campaign, with both answers compared byte for byte on eight
requests; the rollup's SQL alone (captured from a request, run on a connection of our
own); and what a request costs besides that query. The lead's clock is timed in the same
rounds (:mod:`bench.lead`).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from typing import Any

from bench import lead
from bench.common import (
    DATABASE,
    RAW,
    ROLLUP,
    Line,
    Sample,
    answer_runner,
    cells_of,
    explain,
    number,
    section,
    statement_runner,
    statements_of,
    timed_ms,
    use_source,
)
from bench.dataset import (
    BIG_AGENCY_USER_ID,
    CAMPAIGNS,
    CLIENTS,
    SMALL_AGENCY_USER_ID,
    TINY_USER_ID,
    add_tiny_agency,
    remove_tiny_agency,
)
from heatmap_project.harness import Connection, connect

CAMPAIGN_ID = CAMPAIGNS[3]
CLIENT_ID = CLIENTS[7]

#: Rollup requests per round: each takes milliseconds, so more samples cost nothing.
ROLLUP_REPEAT = 20


def rollup_statement(run: Callable[[], object]) -> str:
    """The request's read of the rollup; exits when the request read calls instead."""
    sqls = statements_of(run)
    reads = [sql for sql in sqls if 'FROM "analytics_heatmap".' in sql]
    if len(reads) != 1 or any('FROM "calls"' in sql for sql in sqls):
        raise SystemExit("the request did not read the rollup (is it installed and ready?)")
    return reads[0]


@contextmanager
def phase_timers(into: dict[str, float]) -> Iterator[None]:
    """Add each phase's milliseconds of the requests made inside to ``into``.

    The phases are the view's steps, called one after another, so they add up; what is
    left of a request is Django's and DRF's handling and the test client's.
    """
    from unittest import mock

    from rest_framework.renderers import JSONRenderer

    from analytics.api import views
    from analytics.api.serializers import HeatmapQuerySerializer, HeatmapSerializer
    from analytics.auth.authentication import SupabaseJWTAuthentication

    targets: list[tuple[str, object, str]] = [
        ("token and users row (authentication)", SupabaseJWTAuthentication, "authenticate"),
        ("query string (HeatmapQuerySerializer)", HeatmapQuerySerializer, "is_valid"),
        ("selector: readiness, SET LOCAL, rollup query, fold, rank", views, "cached_heatmap"),
        ("answer serializers (HeatmapSerializer)", HeatmapSerializer, "to_representation"),
        ("ETag (json.dumps and sha256 of the body)", views, "conditional_response"),
        ("JSON rendering", JSONRenderer, "render"),
    ]
    with ExitStack() as stack:
        for label, owner, name in targets:
            original = getattr(owner, name)

            def timed(*args: Any, _original: Any = original, _label: str = label, **kw: Any) -> Any:
                began = time.perf_counter()
                try:
                    return _original(*args, **kw)
                finally:
                    into[_label] = into.get(_label, 0.0) + (time.perf_counter() - began) * 1000

            stack.enter_context(mock.patch.object(owner, name, timed))
        yield


def request_breakdown(run: Callable[[], object], repeat: int) -> None:
    """Where one rollup request's time goes: the view's phases and each statement's round
    trip, medians over ``repeat`` requests."""
    from django.db import connections

    totals: list[float] = []
    phases: dict[str, list[float]] = {}
    per_statement: dict[str, list[float]] = {}
    seen: list[tuple[str, float]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seen.append((sql, (time.perf_counter() - began) * 1000))

    for _ in range(repeat):
        seen.clear()
        spent: dict[str, float] = {}
        with connections[DATABASE].execute_wrapper(wrapper), phase_timers(spent):
            totals.append(timed_ms(run))
        for label, ms in spent.items():
            phases.setdefault(label, []).append(ms)
        phases.setdefault("the rest: Django and DRF handling, the test client", []).append(
            totals[-1] - sum(spent.values())
        )
        for index, (sql, ms) in enumerate(seen):
            key = f"{index + 1}. {' '.join(sql.split())[:76]}"
            per_statement.setdefault(key, []).append(ms)
    print(
        f"one rollup request, unfiltered, medians of {repeat}: "
        f"{number(statistics.median(totals))} ms"
    )
    for label, values in phases.items():
        print(f"  {number(statistics.median(values)):>7} ms  {label}")
    statement_ms = sum(statistics.median(values) for values in per_statement.values())
    print(f"  of which {len(per_statement)} statements, {number(statement_ms)} ms:")
    for key, values in per_statement.items():
        print(f"  {number(statistics.median(values)):>7} ms    {key}")


def compare_answers(period: str) -> bool:
    """Exit unless the rollup answers eight requests byte for byte as the raw scan does,
    and four ``clock=lead`` requests when it answers them; whether it does."""
    unfiltered = {"period": period}
    campaign = {"period": period, "campaign_id": str(CAMPAIGN_ID)}
    big = BIG_AGENCY_USER_ID
    checked: dict[str, tuple[dict[str, str], uuid.UUID]] = {
        "unfiltered": (unfiltered, big),
        "one campaign": (campaign, big),
        "one client": ({"period": period, "client_id": str(CLIENT_ID)}, big),
        "campaign and client, meeting_rate": (
            {**campaign, "client_id": str(CLIENT_ID), "metric": "meeting_rate"},
            big,
        ),
        "Asia/Kathmandu (+5:45), connect_rate": (
            {"period": period, "tz": "Asia/Kathmandu", "metric": "connect_rate"},
            big,
        ),
        "America/New_York, dense": (
            {"period": period, "tz": "America/New_York", "dense": "1"},
            big,
        ),
        "small agency": (unfiltered, SMALL_AGENCY_USER_ID),
        "tiny agency": (unfiltered, TINY_USER_ID),
    }
    from_rollup = lead.rollup_answers_lead(period)
    if from_rollup:
        checked.update(lead.comparisons(period))
    else:
        print("the rollup does not answer clock=lead: the raw scan does (no lead rollup rows)")
    for name, (params, user) in checked.items():
        use_source(RAW)
        raw = answer_runner(params, user)()
        use_source(ROLLUP)
        run = answer_runner(params, user)
        if "clock" in params:
            if not lead.rollup_reads(run):
                raise SystemExit(f"the request {name} did not read the rollup")
        else:
            rollup_statement(run)  # it reads the rollup
        rolled = run()
        if raw != rolled:
            print(
                f"MISMATCH for {name} ({params}):\n"
                f"  raw    {raw[:300]!r}\n  rollup {rolled[:300]!r}"
            )
            raise SystemExit(f"the rollup's answer differs from the raw scan's for {name}")
    print(f"rollup and raw answers identical, full JSON bytes, for {len(checked)} requests:")
    print("  " + "; ".join(checked))

    def ended_calls(params: dict[str, str], user: uuid.UUID) -> int:
        return sum(total for total, _, _ in cells_of(answer_runner(params, user)()).values())

    print(
        f"ended calls in {period}: big agency {ended_calls(unfiltered, big):,}, "
        f"{ended_calls(campaign, big):,} of them in campaign {CAMPAIGN_ID}; "
        f"small agency {ended_calls(unfiltered, SMALL_AGENCY_USER_ID):,}; "
        f"tiny agency {ended_calls(unfiltered, TINY_USER_ID):,}"
    )
    lead.describe_answer(period)
    return from_rollup


def measure_reads(database_url: str, *, period: str, rounds: int, explain: bool) -> list[Line]:
    """The endpoint on the raw scan and on the rollup, and the rollup query alone."""
    section(f"3. the {period} answer through Django: raw scan against rollup")
    add_tiny_agency(database_url)
    try:
        from_rollup = compare_answers(period)
        with closing(connect(database_url)) as connection:
            lead_reads = lead.lead_reads(connection, period=period, from_rollup=from_rollup)
            samples, fixed = time_reads(
                connection, period=period, rounds=rounds, plans=explain, lead_reads=lead_reads
            )
    finally:
        remove_tiny_agency(database_url)

    lines = []
    for name, goal in (("unfiltered", 50.0), ("one campaign", 10.0)):
        raw_sample = samples[f"endpoint, raw scan, {name}"]
        rollup_sample = samples[f"endpoint, rollup, {name}"]
        speedup = raw_sample.median / rollup_sample.median
        lines.append(
            Line(
                f"{period} endpoint, {name}",
                raw_sample.show(),
                rollup_sample.show(),
                f"{speedup:,.0f}x faster",
                f">= {goal:.0f}x faster",
                speedup >= goal,
            )
        )
    for name in ("unfiltered", "one campaign"):
        alone = samples[f"rollup query alone, {name}"]
        lines.append(Line(f"  rollup query alone, {name}", with_=alone.show()))
    tiny = samples["endpoint, rollup, tiny agency, unfiltered"]
    lines.append(Line("  request's fixed cost (endpoint - query)", with_=f"{number(fixed)} ms"))
    lines.append(Line("  whole request, tiny agency", with_=tiny.show()))
    lines += lead.lines(samples, period)
    lines.append(lead.first_offsets_line(database_url, period))
    return lines


def time_reads(
    connection: Connection, *, period: str, rounds: int, plans: bool, lead_reads: lead.LeadReads
) -> tuple[dict[str, Sample], float]:
    """Every read's timings, the lead's clock's among them, and a request's fixed cost
    (endpoint minus query alone)."""
    from analytics.heatmap.limits import heatmap_settings
    from analytics.rollup import state

    unfiltered = {"period": period}
    small = answer_runner(unfiltered, SMALL_AGENCY_USER_ID)
    tiny = answer_runner(unfiltered, TINY_USER_ID)
    tiny_slots = len(cells_of(tiny()))
    runs = {
        "unfiltered": answer_runner(unfiltered),
        "one campaign": answer_runner({**unfiltered, "campaign_id": str(CAMPAIGN_ID)}),
    }
    use_source(ROLLUP)
    sqls = {name: rollup_statement(run) for name, run in runs.items()}
    queries = {name: statement_runner(connection, sql) for name, sql in sqls.items()}
    wrapped = {
        name: statement_runner(connection, sql, settings=heatmap_settings())
        for name, sql in sqls.items()
    }
    for name, query in queries.items():  # the query alone gives the endpoint's cells
        direct = {(d - 1, h): (t, c, b) for d, h, t, c, b in query()}
        if direct != cells_of(runs[name]()):
            raise SystemExit(f"the captured rollup query ({name}) gives other cells")

    samples: dict[str, Sample] = {}

    def add(label: str, step: Callable[[], object], repeat: int = 1) -> None:
        for _ in range(repeat):
            samples.setdefault(label, Sample()).values.append(timed_ms(step))

    # Each rollup measure is repeated in a block, so its median is the steady state of
    # that request; the raw scan reads a million rows either way.
    for _ in range(rounds):
        use_source(RAW)
        for name, run in runs.items():
            add(f"endpoint, raw scan, {name}", run)
        for label, step in lead_reads.raw.items():
            add(label, step)
        use_source(ROLLUP)
        state.rollup_ready(DATABASE)  # asked once per 5 s per process; not timed here
        for name, run in runs.items():
            add(f"endpoint, rollup, {name}", run, ROLLUP_REPEAT)
            add(f"rollup query alone, {name}", queries[name], ROLLUP_REPEAT)
            add(f"rollup query in its transaction, {name}", wrapped[name], ROLLUP_REPEAT)
        add("endpoint, rollup, small agency, unfiltered", small, ROLLUP_REPEAT)
        add("endpoint, rollup, tiny agency, unfiltered", tiny, ROLLUP_REPEAT)
        for label, step in lead_reads.rollup.items():
            add(label, step, ROLLUP_REPEAT)

    print(f"\n{'measure':<52}{'median ms':>11}{'min':>9}{'max':>9}{'samples':>9}")
    for label, sample in samples.items():
        print(
            f"{label:<52}{sample.median:>11.2f}{min(sample.values):>9.2f}"
            f"{max(sample.values):>9.2f}{len(sample.values):>9}"
        )
    print()
    request_breakdown(runs["unfiltered"], repeat=ROLLUP_REPEAT)
    median = {label: sample.median for label, sample in samples.items()}
    fixed = median["endpoint, rollup, unfiltered"] - median["rollup query alone, unfiltered"]
    tiny_ms = median["endpoint, rollup, tiny agency, unfiltered"]
    print(
        f"fixed cost of a request: endpoint minus query alone {number(fixed)} ms; "
        f"the tiny agency's whole request ({tiny_slots} slots from about 1,000 bucket "
        f"rows) {number(tiny_ms)} ms"
    )
    if plans:
        for name, sql in sqls.items():
            print(f"\n-- the endpoint's rollup query, {name}, under its settings\n{sql}\n")
            print(explain(connection, sql, None, heatmap_settings()))
        lead.explain_lead(connection, lead_reads)
    return samples, fixed
