"""The map's tables: loaded as shipped by the migrations, and closed to other roles."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

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
