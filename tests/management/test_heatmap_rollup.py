"""``manage.py heatmap_rollup``: install, status, verify, repair, fold, uninstall, and clear errors;
a fold that could not run says so, and an install upgrades an older rollup in place.

On a real PostgreSQL server; each test commits and leaves the rollup uninstalled
(``rollup_database``).
"""

from __future__ import annotations

import io
import random
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from analytics.rollup import state
from analytics.rollup.inspect import repair_rollup, rollup_status
from tests.helpers import (
    ON_THE_ROLLUP_DATABASE,
    ROOT,
    demo_env,
    ended_call,
    insert_calls,
    insert_random_calls,
    intruder,
    random_call,
    sql,
    utc_today,
)

pytestmark = ON_THE_ROLLUP_DATABASE


def test_status_says_what_is_there_and_exits_0_only_when_ready(rollup_agency: uuid.UUID) -> None:
    out = io.StringIO()
    with pytest.raises(CommandError, match="not installed"):
        call_command("heatmap_rollup", "status", stdout=out)
    assert "the heatmap reads calls directly" in out.getvalue()
    ended_call(rollup_agency)
    out = io.StringIO()
    call_command("heatmap_rollup", "install", stdout=out)
    assert "Installed and ready" in out.getvalue()
    assert "Writers of calls waited at most" in out.getvalue()
    out = io.StringIO()
    call_command("heatmap_rollup", "status", stdout=out)
    assert "ready." in out.getvalue()
    assert "1 agency buckets" in out.getvalue()
    sql("UPDATE analytics_heatmap.rollup_state SET ready = false")
    with pytest.raises(CommandError, match="cannot answer yet"):
        call_command("heatmap_rollup", "status", stdout=io.StringIO())
    out = io.StringIO()
    call_command("heatmap_rollup", "uninstall", stdout=out)
    assert "Uninstalled" in out.getvalue()


def test_verify_finds_a_damaged_rollup_and_repair_mends_it(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    insert_random_calls(random.Random(7), rollup_agency, 300)
    call_command("heatmap_rollup", "verify", stdout=io.StringIO())
    out = io.StringIO()
    call_command("heatmap_rollup", "fold", stdout=out)
    assert re.search(r"Folded [1-9][\d,]* pending deltas", out.getvalue())
    assert sql("SELECT count(*) FROM analytics_heatmap.pending") == [(0,)]
    sql(
        "UPDATE analytics_heatmap.agency_buckets SET total_calls = total_calls + 3 "
        "WHERE ctid = (SELECT min(ctid) FROM analytics_heatmap.agency_buckets)"
    )
    sql(
        "DELETE FROM analytics_heatmap.segment_buckets "
        "WHERE ctid = (SELECT min(ctid) FROM analytics_heatmap.segment_buckets)"
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 rollup buckets differ"):
        call_command("heatmap_rollup", "verify", stdout=out)
    assert f"agency {rollup_agency} at " in out.getvalue()
    out = io.StringIO()
    call_command("heatmap_rollup", "verify", "--agency", str(rollup_agency), "--repair", stdout=out)
    assert "Repaired 2 buckets" in out.getvalue()
    call_command("heatmap_rollup", "verify", stdout=io.StringIO())
    assert repair_rollup(using="default") == 0


def pending_rows() -> int:
    [(rows,)] = sql("SELECT count(*) FROM analytics_heatmap.pending")
    return int(rows)


def test_fold_says_when_it_could_not_run_and_exits_non_zero(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    """Never "Folded 0" while deltas stay pending: another fold holds the maintenance row, or
    the rollup is not ready. A login holding the old advisory key stops nothing."""
    insert_calls([random_call(random.Random(3), [rollup_agency], utc_today()) for _ in range(200)])
    pending = pending_rows()
    other_fold = connection.get_new_connection(connection.get_connection_params())
    try:
        other_fold.cursor().execute("SELECT analytics_heatmap.fold()")  # not committed yet
        out = io.StringIO()
        with pytest.raises(CommandError) as refused:
            call_command("heatmap_rollup", "fold", stdout=out)
    finally:
        other_fold.rollback()
        other_fold.close()
    assert str(refused.value) == (
        "fold did not run: another fold or repair is running (it holds "
        f"analytics_heatmap.maintenance); {pending:,} deltas stay pending for the next fold"
    )
    assert "Folded" not in out.getvalue()
    sql("UPDATE analytics_heatmap.rollup_state SET ready = false")
    with pytest.raises(CommandError, match=re.escape("the rollup is not ready (an install")):
        call_command("heatmap_rollup", "fold", stdout=io.StringIO())
    sql("UPDATE analytics_heatmap.rollup_state SET ready = true")
    with intruder() as login:
        login.cursor().execute("SELECT pg_advisory_lock(hashtext('analytics_heatmap'))")
        out = io.StringIO()
        call_command("heatmap_rollup", "fold", stdout=out)
    assert f"Folded {pending:,} pending deltas" in out.getvalue()
    assert pending_rows() == 0


def rollup_tables() -> list[tuple[Any, ...]]:
    """Each table of version 2's rollup: its storage (new if it were rebuilt) and its sums."""
    tables = ["agency_buckets", "segment_buckets", "lead_agency_buckets", "lead_segment_buckets"]
    return [
        (
            table,
            *sql(
                "SELECT relfilenode FROM pg_class WHERE oid = %s::regclass",
                [f"analytics_heatmap.{table}"],
            )[0],
            *sql(
                "SELECT count(*), sum(total_calls), sum(connected_calls), sum(meetings_booked) "
                f"FROM analytics_heatmap.{table}"
            )[0],
        )
        for table in [*tables, "pending"]
    ]


def rollup_columns() -> list[tuple[Any, ...]]:
    """Every column of every table and view in the rollup's schema, with its type."""
    return sql(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
        "WHERE c.relnamespace = 'analytics_heatmap'::regnamespace AND c.relkind IN ('r', 'v') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2"
    )


def test_install_upgrades_a_version_2_rollup_in_place_keeping_its_counts(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    rng = random.Random(9)
    insert_random_calls(rng, rollup_agency, 300)
    call_command("heatmap_rollup", "fold", stdout=io.StringIO())
    insert_random_calls(rng, rollup_agency, 100)
    pending = pending_rows()
    columns = rollup_columns()
    # Version 2: no maintenance row (fold and repair took an advisory key), no time of
    # each pending delta, and its number.
    sql("DROP TABLE analytics_heatmap.maintenance")
    sql("ALTER TABLE analytics_heatmap.pending DROP COLUMN appended_at")
    sql("UPDATE analytics_heatmap.rollup_state SET version = 2")
    state.forget()
    assert not rollup_status(using="default").current  # the heatmap reads calls meanwhile
    before = rollup_tables()
    out = io.StringIO()
    call_command("heatmap_rollup", "install", stdout=out)
    assert out.getvalue() == "Upgraded in place from version 2 to 3; its counts are kept.\n"
    assert rollup_tables() == before
    assert rollup_columns() == columns  # what a fresh install of this version has
    status = rollup_status(using="default")
    assert (status.version, status.current) == (3, True)
    out = io.StringIO()
    call_command("heatmap_rollup", "fold", stdout=out)
    assert f"Folded {pending:,} pending deltas" in out.getvalue()
    call_command("heatmap_rollup", "verify", stdout=io.StringIO())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "--agency", "nope"], "--agency: 'nope' is not a valid UUID."),
        (["--database", "elsewhere", "status"], "--database: 'elsewhere' is not in DATABASES."),
        (["verify"], "the rollup is not installed"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_a_clear_error(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("heatmap_rollup", *args, stdout=io.StringIO())


@pytest.mark.parametrize(
    ("database_url", "action", "message"),
    [
        ("postgres://postgres@127.0.0.1:9/nowhere", "install", "cannot connect to database"),
        ("sqlite:///{tmp}/db.sqlite3", "status", "the rollup needs PostgreSQL"),
        ("sqlite:///{tmp}/db.sqlite3", "reinstall", "invalid choice: 'reinstall'"),
    ],
)
def test_from_the_shell_a_failure_is_one_line_and_non_zero(
    tmp_path: Path, database_url: str, action: str, message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "heatmap_rollup", action],
        cwd=ROOT,
        env=demo_env(DATABASE_URL=database_url.format(tmp=tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == (2 if "invalid choice" in message else 1)
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_type_change_the_triggers_did_not_see_makes_status_say_repair_and_repair_clears_it(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    """``ALTER ... TYPE ... USING`` rewrites values without firing a row trigger: here it
    ends every queued call, to the same type, and the rollup counted none of them."""
    insert_random_calls(random.Random(11), rollup_agency, 200)
    call_command("heatmap_rollup", "status", stdout=io.StringIO())
    sql(
        "ALTER TABLE calls ALTER COLUMN status TYPE call_status USING "
        "(CASE WHEN status = 'queued' THEN 'ended' ELSE status::text END)::call_status"
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"may be out of date: run .*verify --repair"):
        call_command("heatmap_rollup", "status", stdout=out)
    assert "its rows were rewritten (ALTER ... TYPE" in out.getvalue()
    assert "The heatmap reads calls until you run" in out.getvalue()
    with pytest.raises(CommandError, match="rollup buckets differ from calls"):
        call_command("heatmap_rollup", "verify", stdout=io.StringIO())
    out = io.StringIO()
    call_command("heatmap_rollup", "verify", "--repair", stdout=out)
    assert "Repaired" in out.getvalue()
    out = io.StringIO()
    call_command("heatmap_rollup", "status", stdout=out)  # exit 0: trusted again
    assert "may be out of date" not in out.getvalue()


def test_verify_repair_that_finds_nothing_still_records_a_rewrite(rollup: None) -> None:
    sql("VACUUM FULL calls")
    with pytest.raises(CommandError, match="may be out of date"):
        call_command("heatmap_rollup", "status", stdout=io.StringIO())
    call_command("heatmap_rollup", "verify", stdout=io.StringIO())  # read-only: records nothing
    with pytest.raises(CommandError, match="may be out of date"):
        call_command("heatmap_rollup", "status", stdout=io.StringIO())
    out = io.StringIO()
    call_command("heatmap_rollup", "verify", "--repair", stdout=out)
    assert "The rollup matches calls for every agency." in out.getvalue()
    call_command("heatmap_rollup", "status", stdout=io.StringIO())
