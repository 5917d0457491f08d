"""The map's tables: loaded as shipped by the migrations, and closed to other roles."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.heatmap.lead_clock import shipped_map
from analytics.heatmap.lead_map import load_lead_zone_map, loaded_map_version, refresh_lead_zone_map
from analytics.models import LeadPrefixRange, LeadZoneGroup, LeadZoneMap
from tests.helpers import sql

pytestmark = pytest.mark.django_db


def test_the_migrations_loaded_the_shipped_map() -> None:
    zone_map = shipped_map()
    assert loaded_map_version("default") == zone_map.version
    groups = dict(LeadZoneGroup.objects.values_list("id", "zones"))
    assert groups == {n: " ".join(zones) for n, zones in enumerate(zone_map.groups, 1)}
    ranges = list(LeadPrefixRange.objects.order_by("key").values_list("key", "group_id", "prefix"))
    assert ranges == zone_map.ranges()


def test_loading_again_replaces_the_map_and_changes_nothing() -> None:
    before = list(LeadPrefixRange.objects.order_by("key").values_list("key", "group_id"))
    assert load_lead_zone_map(connection) == shipped_map().version
    after = list(LeadPrefixRange.objects.order_by("key").values_list("key", "group_id"))
    assert before == after


def test_no_role_but_the_owner_may_read_or_write_the_map(on_postgresql: None) -> None:
    for role in ("anon", "authenticated"):
        if not sql("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]):
            sql(f"CREATE ROLE {role} NOLOGIN")
        # What Supabase's default privileges give every table made in public.
        sql(f"GRANT ALL ON analytics_lead_prefix_range, analytics_lead_zone_group TO {role}")
    load_lead_zone_map(connection)
    grants = sql(
        "SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants "
        "WHERE table_name LIKE 'analytics_lead_%%' "
        "AND grantee IN ('anon', 'authenticated', 'PUBLIC')"
    )
    assert grants == []
    secured = sql(
        "SELECT relname, relrowsecurity FROM pg_class WHERE relname LIKE 'analytics_lead_%%' "
        "AND relkind = 'r' ORDER BY relname"
    )
    assert secured == [
        ("analytics_lead_prefix_range", True),
        ("analytics_lead_zone_group", True),
        ("analytics_lead_zone_map", True),
    ]


def test_after_migrate_a_current_map_left_open_by_an_older_release_is_closed_once(
    on_postgresql: None,
) -> None:
    """A map loaded before the tables were closed gets what it lacks; one already closed is
    only looked at: no statement that locks the tables the lead scans read."""
    if not sql("SELECT 1 FROM pg_roles WHERE rolname = 'anon'"):
        sql("CREATE ROLE anon NOLOGIN")
    sql("GRANT SELECT ON analytics_lead_zone_group TO anon")
    sql("ALTER TABLE analytics_lead_prefix_range DISABLE ROW LEVEL SECURITY")
    sql("DROP POLICY readers ON analytics_lead_zone_map")
    refresh_lead_zone_map("default")
    assert sql(
        "SELECT count(*) FROM information_schema.role_table_grants "
        "WHERE table_name LIKE 'analytics_lead_%%' AND grantee = 'anon'"
    ) == [(0,)]
    assert (
        sql(
            "SELECT relname FROM pg_class AS c WHERE relname LIKE 'analytics_lead_%%' "
            "AND relkind = 'r' AND (NOT relrowsecurity OR NOT EXISTS ("
            "SELECT 1 FROM pg_policy WHERE polrelid = c.oid AND polname = 'readers'))"
        )
        == []
    )
    with CaptureQueriesContext(connection) as queries:
        refresh_lead_zone_map("default")
    changes = ("ALTER", "REVOKE", "CREATE", "DO")
    assert [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(changes)] == []


def test_after_migrate_the_shipped_map_replaces_another_or_none() -> None:
    LeadZoneMap.objects.update(version="8.13.0")
    LeadPrefixRange.objects.filter(group_id=0).delete()
    refresh_lead_zone_map("default")
    assert loaded_map_version("default") == shipped_map().version
    assert LeadPrefixRange.objects.count() == len(shipped_map().ranges())
    LeadZoneMap.objects.all().delete()
    refresh_lead_zone_map("default")
    assert loaded_map_version("default") == shipped_map().version


@pytest.mark.django_db(transaction=True)
def test_a_flush_is_followed_by_the_map_again() -> None:
    call_command("flush", interactive=False, verbosity=0)
    assert loaded_map_version("default") == shipped_map().version
