"""``manage.py call_heatmap``: the grid in a terminal, the endpoint's JSON, and clear errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from analytics.api.serializers import HeatmapQuerySerializer
from analytics.heatmap.presentation import EN_DASH, TERMINAL_WIDTH
from analytics.heatmap.vocabulary import Metric
from analytics.management.commands.call_heatmap import Command
from analytics.models import User
from tests.helpers import HEATMAP_URL, ROOT, MakeCall, demo_env, table_away

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def seeded(make_call: MakeCall, at_ten: datetime) -> None:
    """Three calls at 10:00 today (one connected), one at 14:00."""
    make_call(created_at=at_ten, joined_at=at_ten, end_reason="completed")
    make_call(created_at=at_ten + timedelta(minutes=5))
    make_call(created_at=at_ten + timedelta(minutes=30))
    make_call(created_at=at_ten + timedelta(hours=4))


def run(*args: str, stdout: io.TextIOBase | None = None) -> str:
    out = stdout or io.StringIO()
    call_command("call_heatmap", *args, stdout=out)
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_prints_the_grid_legend_best_times_and_totals(
    seeded: None, agency_id: uuid.UUID, at_ten: datetime, today: date
) -> None:
    lines = run("--agency", str(agency_id)).splitlines()
    start = today - timedelta(days=29)
    # Wrapped to the terminal's 80 columns, the id whole.
    assert lines[:2] == [f"Agency {agency_id}: {start} to {today} (30 days),", "  hours in UTC."]
    assert lines[2] == "Shaded by calls; the top slot has 3."
    row = next(line for line in lines if line.startswith(f"{at_ten:%a} "))
    slots = row[4 : 4 + 48]
    assert slots[20:22] == "██"  # 10:00, the busiest
    assert slots[28:30] == "▒▒"  # 14:00, a third of it
    assert row.endswith(" 4")
    assert "Legend (calls): [  ] none  [▒▒] 1  [▓▓] 2  [██] 3" in lines
    best = lines.index("Best times (calls):")
    assert lines[best + 1].split() == ["1.", f"{at_ten:%A}", "10:00", "3"]
    assert lines[best + 2].split() == ["2.", f"{at_ten:%A}", "14:00", "1"]
    assert lines[-1] == "Totals: 4 calls, 1 connected (25.0%), 0 meetings booked (0.0%)."


def test_rates_show_their_sample_and_the_time_zone(
    seeded: None, agency_id: uuid.UUID, at_ten: datetime
) -> None:
    output = run(
        "--agency", str(agency_id), "--metric", "connect_rate", "--min-calls", "2", "--tz",
        "Asia/Kolkata",
    )  # fmt: skip
    assert "\n  hours in Asia/Kolkata.\n" in output
    assert "Shaded by connect rate; the top slot among slots with 2+ calls has 50.0%." in output
    assert f"  1. {at_ten:%A} 15:00" in output  # 10:15 and 10:20 UTC, one connected
    assert "50.0% of 2 calls" in output


def test_a_terminal_without_block_characters_gets_ascii(seeded: None, agency_id: uuid.UUID) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    call_command("call_heatmap", "--agency", str(agency_id), stdout=stream)
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "##" in text
    assert "Legend (calls): [  ] none  [::] 1  [**] 2  [##] 3" in text


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--period", "7d", "--metric", "connected"],
        ["--tz", "America/New_York"],
        ["--metric", "meeting_rate", "--min-calls", "1"],
        ["--dense"],
        ["--clock", "lead"],
        ["--clock", "tz", "--tz", "Asia/Kolkata"],
    ],
)
def test_json_is_the_endpoint_body(
    seeded: None, agency_id: uuid.UUID, auth_client: APIClient, options: list[str]
) -> None:
    printed = run("--agency", str(agency_id), "--json", *options)
    query = dict(zip(options[::2], options[1::2], strict=False))
    params = {name.removeprefix("--").replace("-", "_"): value for name, value in query.items()}
    if "--dense" in options:
        params = {"dense": "true"}
    api = auth_client.get(HEATMAP_URL, params)
    assert api.status_code == 200
    assert printed == api.content.decode() + "\n"
    body = json.loads(printed)
    if "--dense" in options:
        assert len(body["heatmap"]) == 168
    assert body["timezone"] == query.get("--tz", "UTC")
    assert body["clock"] == query.get("--clock", "tz")


@pytest.fixture
def lead_seeded(make_call: MakeCall, today: date) -> date:
    """Two days ago in New York: two calls at 22:00 and three at 10:00 lead-local (one
    connected), and one to a number no zone can be found for. Returns that day."""
    day = today - timedelta(days=2)
    for hour, total in ((22, 2), (10, 3)):
        at = datetime.combine(day, time(hour), tzinfo=NEW_YORK).astimezone(UTC)
        for i in range(total):
            joined = at if hour == 10 and i == 0 else None
            make_call(created_at=at, joined_at=joined, phone_number="+1-212-555-0100")
    make_call(created_at=datetime.combine(day, time(12), tzinfo=UTC), phone_number="")
    return day


def test_the_leads_clock_prints_its_two_counts(
    lead_seeded: date, agency_id: uuid.UUID, today: date
) -> None:
    lines = run("--agency", str(agency_id), "--clock", "lead").splitlines()
    start = today - timedelta(days=29)
    assert lines[:2] == [
        f"Agency {agency_id}: {start} to {today} (30 days),",
        "  window in UTC, days and hours in each lead's local time.",
    ]
    best = lines.index("Best times (calls):")
    assert lines[best + 1].split() == ["1.", f"{lead_seeded:%A}", "10:00", "3"]
    assert lines[best + 2] == ""  # 22:00 had more calls, and is outside the hours
    assert lines[-4] == "Totals: 5 calls, 1 connected (20.0%), 0 meetings booked (0.0%)."
    assert lines[-3] == "Not placed: 1 calls (no single time zone for their number)."
    assert lines[-2:] == [
        f"Outside the calling hours (08:00{EN_DASH}21:00, lead-local): 2 calls; best times rank",
        "  only hours inside them.",
    ]


def test_the_leads_clock_without_calling_hours(
    lead_seeded: date, agency_id: uuid.UUID, settings: Any
) -> None:
    settings.ANALYTICS_CALLING_HOURS = None
    output = run("--agency", str(agency_id), "--clock", "lead")
    assert f"  1. {lead_seeded:%A} 10:00" in output
    assert f"  2. {lead_seeded:%A} 22:00" in output
    assert output.splitlines()[-1] == "Calling hours: none set (ANALYTICS_CALLING_HOURS is None)."


def test_no_best_time_inside_the_calling_hours_is_said(
    lead_seeded: date, agency_id: uuid.UUID, settings: Any
) -> None:
    settings.ANALYTICS_CALLING_HOURS = (11, 17)
    lines = run("--agency", str(agency_id), "--clock", "lead").splitlines()
    assert "  none: no slot inside the calling hours has any" in lines
    outside = f"Outside the calling hours (11:00{EN_DASH}17:00, lead-local): 5 calls"
    assert lines[-2].startswith(outside)


def test_the_json_carries_both_counts(lead_seeded: date, agency_id: uuid.UUID) -> None:
    body = json.loads(run("--agency", str(agency_id), "--clock", "lead", "--json"))
    assert (body["clock"], body["unplaced_calls"], body["outside_calling_hours"]) == ("lead", 1, 2)
    viewer = json.loads(run("--agency", str(agency_id), "--json"))
    assert (viewer["clock"], viewer["unplaced_calls"], viewer["outside_calling_hours"]) == (
        "tz",
        None,
        None,
    )


@pytest.fixture
def busy(make_call: MakeCall, today: date) -> None:
    """A few hundred calls across the week and the day, to leads in far zones and none."""
    numbers = ["+61 2 9374 1234", "+1 212 555 0100", "+977 1 4410000", ""]
    for n in range(240):
        at = datetime.combine(today - timedelta(days=n % 28), time(n % 24), tzinfo=UTC)
        joined = at if n % 3 == 0 else None
        analysis = {"sdr": {"meeting_booked": n % 5 == 0}}
        make_call(created_at=at, joined_at=joined, phone_number=numbers[n % 4], analysis=analysis)


@pytest.mark.parametrize("metric", [metric.value for metric in Metric])
@pytest.mark.parametrize("clock", ["tz", "lead"])
def test_every_line_fits_80_columns(
    busy: None, agency_id: uuid.UUID, metric: str, clock: str
) -> None:
    """The grid, legend, best times and sentences, on one of the longest zone names."""
    zone = "America/Argentina/Buenos_Aires"
    args = ["--metric", metric, "--clock", clock, "--tz", zone, "--min-calls", "1"]
    lines = run("--agency", str(agency_id), "--period", "90d", *args).splitlines()
    assert max(len(line) for line in lines) <= TERMINAL_WIDTH
    assert any(line.startswith("Wed ") for line in lines)


def test_dense_without_json_is_an_error(seeded: None, agency_id: uuid.UUID) -> None:
    """The grid always shows all 168 slots, so ``--dense`` alone would change nothing."""
    with pytest.raises(CommandError) as refused:
        run("--agency", str(agency_id), "--dense")
    assert str(refused.value) == "--dense: only with --json; the grid always shows all 168 slots."


def test_an_agency_known_only_by_its_users_gets_an_empty_grid(user: User) -> None:
    output = run("--agency", str(user.agency_id))
    assert "Shaded by calls; the top slot has 0." in output
    assert "  none: no slot has any" in output


def test_help_is_the_endpoints_parameter_help() -> None:
    """Each option's help is its query parameter's, with the default; ``%`` survives argparse."""
    parser = Command().create_parser("manage.py", "call_heatmap")
    text = " ".join(parser.format_help().split())
    assert "95% Wilson score interval" in text
    helps = {action.dest: action.help for action in parser._actions}
    fields = HeatmapQuerySerializer().fields.items()
    endpoint = {name: field.help_text.replace("`", "") for name, field in fields}
    defaults = [("period", "30d"), ("metric", "calls"), ("tz", "UTC"), ("min_calls", 20)]
    for name, default in [*defaults, ("clock", "tz")]:
        assert helps[name] == f"{endpoint[name]} (default {default})".replace("%", "%%")
    assert helps["campaign_id"] == endpoint["campaign_id"]
    assert "--clock {tz,lead}" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agency", "nope"], "--agency: 'nope' is not a valid UUID."),
        (["--agency", "{unknown}"], "No calls and no users belong to this agency; check the id."),
        (["--agency", "{agency}", "--tz", "Mars/Olympus_Mons"], "--tz: Unknown time zone"),
        (["--agency", "{agency}", "--tz", "+05:30"], "--tz: Use a time zone name"),
        (["--agency", "{agency}", "--min-calls", "0"], "--min-calls: Ensure this value"),
        (["--agency", "{agency}", "--min-calls", "lots"], "--min-calls: A valid integer"),
        (["--agency", "{agency}", "--campaign-id", "x"], "--campaign-id: Must be a valid UUID."),
        (["--agency", "{agency}", "--period", "1y"], "argument --period: invalid choice"),
        (["--agency", "{agency}", "--metric", "vibes"], "argument --metric: invalid choice"),
        (["--agency", "{agency}", "--clock", "LEAD"], "argument --clock: invalid choice"),
        ([], "the following arguments are required: --agency"),
    ],
)
def test_bad_arguments_are_clear_errors(
    seeded: None, agency_id: uuid.UUID, args: list[str], message: str
) -> None:
    values = {"agency": str(agency_id), "unknown": str(uuid.uuid4())}
    with pytest.raises(CommandError, match=message.replace("+", r"\+")):
        run(*(arg.format(**values) for arg in args))


def test_a_failed_read_of_calls_is_said_in_one_line(user: User) -> None:
    """The agency is known from its users; the count of its calls fails: the command says so."""
    with table_away("calls"), pytest.raises(CommandError) as failed:
        run("--agency", str(user.agency_id))
    said = str(failed.value)
    assert said.startswith("Failed to query calls table on database 'default': ")
    assert "calls" in said.removeprefix("Failed to query calls table")  # the server's reason
    assert "\n" not in said


def test_from_the_shell_errors_exit_non_zero_without_a_traceback(tmp_path: Path) -> None:
    """Three real ``manage.py`` runs, side by side: bad value, bad choice, no tables."""
    # An empty database: the users and calls tables are missing.
    env = demo_env(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    runs = {
        "bad uuid": ["--agency", "not-a-uuid"],
        "bad choice": ["--agency", str(uuid.uuid4()), "--period", "1y"],
        "no tables": ["--agency", str(uuid.uuid4())],
        "dense alone": ["--agency", str(uuid.uuid4()), "--dense"],
    }
    processes = {
        name: subprocess.Popen(
            [sys.executable, "manage.py", "call_heatmap", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in runs.items()
    }
    results = {name: (p.wait(timeout=60), *p.communicate()) for name, p in processes.items()}
    expected = {
        "bad uuid": (1, "CommandError: --agency: 'not-a-uuid' is not a valid UUID."),
        "bad choice": (2, "error: argument --period: invalid choice: '1y'"),
        "no tables": (1, "CommandError: Failed to query users table: no such table: users"),
        "dense alone": (1, "CommandError: --dense: only with --json"),
    }
    for name, (status, message) in expected.items():
        code, stdout, stderr = results[name]
        assert code == status, (name, stderr)
        assert message in stderr, (name, stderr)
        assert "Traceback" not in stderr + stdout, name
