"""What the rollup holds on the lead's clock, where it differs from calls, and which map it
counts by: ``status``, ``verify`` and ``repair`` over the lead grains.

On a real PostgreSQL server; each test commits and leaves the rollup uninstalled
(``rollup_database``).
"""

from __future__ import annotations

import io
import random
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.heatmap.lead_clock import shipped_map
from analytics.rollup.inspect import (
    fold_pending,
    repair_rollup,
    rollup_differences,
    rollup_status,
)
from analytics.rollup.install import install
from tests.helpers import insert_calls, random_call, sql, utc_today

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rollup_database")]

#: The release of the map this version of the app ships, which its migrations load.
SHIPPED = shipped_map().version


@pytest.fixture
def folded_calls(rollup: None, rollup_agency: uuid.UUID) -> None:
    """300 random calls of every kind of number, folded into the grains."""
    rng = random.Random(7)
    insert_calls([random_call(rng, [rollup_agency], utc_today()) for _ in range(300)])
    fold_pending(using="default")


def test_verify_finds_a_planted_difference_in_a_lead_bucket_and_repair_mends_it(
    folded_calls: None, rollup_agency: uuid.UUID
) -> None:
    assert rollup_differences(using="default") == []
    [(bucket, group)] = sql(
        "SELECT bucket, lead_group FROM analytics_heatmap.lead_agency_buckets "
        "WHERE lead_group > 0 ORDER BY bucket LIMIT 1"
    )
    sql(
        "UPDATE analytics_heatmap.lead_agency_buckets SET total_calls = total_calls + 2 "
        "WHERE bucket = %s AND lead_group = %s",
        [bucket, group],
    )
    sql(
        "DELETE FROM analytics_heatmap.lead_segment_buckets "
        "WHERE ctid = (SELECT min(ctid) FROM analytics_heatmap.lead_segment_buckets)"
    )
    found = rollup_differences(using="default", agency_id=rollup_agency)
    assert sorted(difference.grain for difference in found) == ["lead_agency", "lead_segment"]
    [planted] = [difference for difference in found if difference.grain == "lead_agency"]
    assert (planted.bucket, planted.lead_group) == (bucket, group)
    assert planted.rollup[0] == planted.fresh[0] + 2
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 rollup buckets differ"):
        call_command("heatmap_rollup", "verify", stdout=out)
    assert f"agency {rollup_agency} lead zone group {group} at " in out.getvalue()
    assert repair_rollup(using="default", agency_id=rollup_agency) == 2
    assert rollup_differences(using="default") == []
    assert repair_rollup(using="default") == 0


def test_status_names_the_rollups_map_and_the_apps_and_what_to_run_when_they_differ(
    folded_calls: None,
) -> None:
    status = rollup_status(using="default")
    assert status.map_current
    assert status.map_version == status.app_map_version == SHIPPED
    assert status.lead_agency_rows > 0
    assert status.lead_segment_rows >= status.lead_agency_rows
    out = io.StringIO()
    call_command("heatmap_rollup", "status", stdout=out)
    assert f"Time-zone map: phonenumbers {SHIPPED}, as the app's tables hold" in out.getvalue()
    sql("UPDATE analytics_lead_zone_map SET version = 'newer'")
    out = io.StringIO()
    call_command("heatmap_rollup", "status", stdout=out)  # still ready: exit 0
    assert (
        f"the rollup counts by phonenumbers {SHIPPED}, the app's tables hold phonenumbers newer; "
        "clock=lead reads calls until you run python manage.py heatmap_rollup install"
    ) in out.getvalue()
    out = io.StringIO()
    call_command("heatmap_rollup", "install", stdout=out)
    rebuilt = f"Rebuilt for the time-zone map of phonenumbers newer (it counted by {SHIPPED})"
    assert rebuilt in out.getvalue()
    assert rollup_status(using="default").map_current
    assert rollup_differences(using="default") == []


def test_without_a_map_in_the_apps_tables_the_rollup_answers_the_viewers_clock_alone(
    rollup_database: None,
) -> None:
    """Tables without a map, as before the migration that loads it (or after a committing
    test's flush): install goes on without it, and says so."""
    sql("DELETE FROM analytics_lead_prefix_range")
    sql("DELETE FROM analytics_lead_zone_map")
    out = io.StringIO()
    call_command("heatmap_rollup", "install", stdout=out)
    assert "The app's tables hold no time-zone map" in out.getvalue()
    status = rollup_status(using="default")
    assert status.current
    assert not status.map_current
    assert install(using="default").already_installed  # no map to remap to
