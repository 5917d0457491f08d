"""Whether the rollup can answer: installed, ready, of this version, with all its triggers.

On a real PostgreSQL server; each test commits and leaves the rollup uninstalled
(``rollup_database``).
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.checks import check_heatmap_settings, check_rollup_source
from analytics.heatmap.selectors import reads_rollup
from analytics.rollup import state as rollup_state
from analytics.rollup.install import install
from tests.helpers import query_for, sql

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rollup_database")]


def test_the_rollup_source_setting_is_checked(settings: Any) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = "rollup"
    [error] = check_rollup_source(databases=["default"])
    assert error.id == "analytics.E017"
    assert "not installed" in error.msg
    install(using="default")
    assert check_rollup_source(databases=["default"]) == []
    settings.ANALYTICS_HEATMAP_SOURCE = "sometimes"
    assert [m.id for m in check_heatmap_settings()] == ["analytics.E016"]


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
