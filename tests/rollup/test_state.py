"""Whether the rollup can answer: installed, ready, of this version, with all its triggers,
and calls of the shape it counted.

On a real PostgreSQL server; each test commits and leaves the rollup uninstalled
(``rollup_database``).
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.checks import check_heatmap_settings, check_rollup_source
from analytics.heatmap.selectors import count_rollup_by_slot, reads_rollup
from analytics.rollup import state as rollup_state
from analytics.rollup.inspect import rollup_differences
from analytics.rollup.install import install
from tests.helpers import ON_THE_ROLLUP_DATABASE, SHIPPED, ended_call, query_for, sql

pytestmark = ON_THE_ROLLUP_DATABASE


def test_the_rollup_source_setting_is_checked(settings: Any) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = "rollup"
    [error] = check_rollup_source(databases=["default"])
    assert error.id == "analytics.E017"
    assert "not installed" in error.msg
    install(using="default")
    assert check_rollup_source(databases=["default"]) == []
    settings.ANALYTICS_HEATMAP_SOURCE = "sometimes"
    [error] = check_heatmap_settings()
    assert (error.id, error.msg.split()[0]) == ("analytics.E002", "ANALYTICS_HEATMAP_SOURCE")


def test_a_rollup_whose_triggers_are_gone_is_not_read(rollup: None) -> None:
    """Without its triggers the rollup goes stale: the scan answers, status says so."""
    assert reads_rollup(query_for("UTC"))
    sql("DROP TRIGGER analytics_heatmap_insert ON calls")
    rollup_state.forget()
    assert not reads_rollup(query_for("UTC"))
    with pytest.raises(CommandError, match="cannot answer yet"):
        call_command("heatmap_rollup", "status", stdout=io.StringIO())
    install(using="default")  # a rollup that is not current is installed afresh
    assert reads_rollup(query_for("UTC"))


def test_a_rollup_counting_by_another_map_leaves_the_lead_clock_to_calls_and_says_so_once(
    rollup: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert getattr(rollup_state.current_state("default"), "answers_lead", False)
    newer = f"newer-{uuid.uuid4().hex[:8]}"  # a pair of maps this process has not told of
    sql("UPDATE analytics_lead_zone_map SET version = %s", [newer])
    rollup_state.forget()
    assert rollup_state.rollup_ready("default")  # the viewer's clock is unaffected
    assert not getattr(rollup_state.current_state("default"), "answers_lead", False)
    for _ in range(3):
        rollup_state.forget()
        assert not getattr(rollup_state.current_state("default"), "answers_lead", False)
    told = [record for record in caplog.records if "time-zone map" in record.getMessage()]
    assert len(told) == 1
    assert f"phonenumbers {SHIPPED}, the app's tables hold {newer}" in told[0].getMessage()
    assert "python manage.py heatmap_rollup install" in told[0].getMessage()


def test_a_rewrite_of_calls_its_triggers_did_not_see_leaves_the_heatmap_to_the_scan(
    rollup: None, rollup_agency: uuid.UUID, caplog: pytest.LogCaptureFixture
) -> None:
    """``ALTER ... TYPE`` to the same type rewrites every row and fires no row trigger: the
    rollup may be wrong, so the scan answers, the log says so once, until a repair."""
    ended_call(rollup_agency)
    assert reads_rollup(query_for("UTC"))
    sql("ALTER TABLE calls ALTER COLUMN status TYPE call_status USING status::text::call_status")
    for _ in range(3):
        rollup_state.forget()
        assert not reads_rollup(query_for("UTC"))
    [change] = rollup_state.read_state("default").drift
    assert change.startswith("its rows were rewritten")
    told = [record for record in caplog.records if "may be out of date" in record.getMessage()]
    assert len(told) == 1
    assert "heatmap_rollup verify --repair" in told[0].getMessage()
    call_command("heatmap_rollup", "verify", "--repair", stdout=io.StringIO())
    assert rollup_state.read_state("default").drift == ()
    assert reads_rollup(query_for("UTC"))


def test_a_column_of_another_type_is_named(rollup: None) -> None:
    sql("ALTER TABLE calls ALTER COLUMN phone_number TYPE varchar(32)")
    try:
        drift = rollup_state.read_state("default").drift
    finally:
        sql("ALTER TABLE calls ALTER COLUMN phone_number TYPE text")
    assert drift[0] == "column phone_number is character varying(32), was text"
    assert drift[1].startswith("its rows were rewritten (ALTER ... TYPE, VACUUM FULL, CLUSTER)")
    # text again, but rewritten twice meanwhile: still not trusted
    assert rollup_state.read_state("default").drift[0].startswith("its rows were rewritten")


def test_a_vacuum_full_is_a_rewrite_too(rollup: None) -> None:
    sql("VACUUM FULL calls")
    rollup_state.forget()
    assert not reads_rollup(query_for("UTC"))
    assert rollup_state.read_state("default").drift[0].startswith("its rows were rewritten")


def test_a_truncate_the_triggers_saw_is_recorded_and_the_rollup_still_answers(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    ended_call(rollup_agency)
    [(before,)] = sql("SELECT relfilenode FROM pg_class WHERE oid = 'calls'::regclass")
    sql("TRUNCATE calls")
    [(after,)] = sql("SELECT relfilenode FROM pg_class WHERE oid = 'calls'::regclass")
    assert after != before  # new storage, which the TRUNCATE trigger recorded
    assert sql("SELECT recorded_by FROM analytics_heatmap.calls_shape") == [("truncate",)]
    rollup_state.forget()
    assert rollup_state.read_state("default").drift == ()
    assert reads_rollup(query_for("UTC"))
    ended_call(rollup_agency)
    ended_call(rollup_agency)
    assert rollup_differences(using="default") == []
    [cell] = count_rollup_by_slot(agency_id=rollup_agency, query=query_for("UTC"))
    assert cell.total_calls == 2
