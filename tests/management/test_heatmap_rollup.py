"""``manage.py heatmap_rollup``: install, status, verify, repair, fold, uninstall, and clear errors.

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

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.rollup.inspect import repair_rollup
from tests.helpers import ROOT, demo_env, ended_call, insert_calls, random_call, sql, utc_today

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rollup_database")]


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
    rng = random.Random(7)
    insert_calls([random_call(rng, [rollup_agency], utc_today()) for _ in range(300)])
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
