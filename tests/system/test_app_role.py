"""Django on a role of its own, with exactly the grants docs/deploying-on-supabase.md gives.

The statements are read from the page itself, so the page and this test cannot drift
apart. A new login gets them and nothing else; Django then connects as it. The heatmap
must read the rollup (one of its buckets is made to differ from calls, so an answer
shows which source gave it), ``heatmap_rollup status`` must work, and nothing beyond
reading must be open to it.

On a real PostgreSQL server; each test commits and leaves the rollup uninstalled
(``rollup_database``) and the role dropped.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from analytics.models import User
from analytics.rollup import state as rollup_state
from tests.helpers import (
    HEATMAP_URL,
    ON_THE_ROLLUP_DATABASE,
    ROOT,
    ended_call,
    mint_token,
    server_behind,
    sql,
)

pytestmark = ON_THE_ROLLUP_DATABASE

ROLE = "h21_h11_app"
#: The role the page's statements name.
DOCUMENTED_ROLE = "django_app"


def documented_grants() -> list[str]:
    """The SQL block of the page's "Django on a role of its own", one statement each."""
    text = (ROOT / "docs" / "deploying-on-supabase.md").read_text()
    section = text.split("## Django on a role of its own", 1)[1]
    block = section.split("```sql\n", 1)[1].split("```", 1)[0]
    statements = [line.strip() for line in block.split(";") if line.strip()]
    assert statements, "the page gives no statement"
    return statements


@contextmanager
def connected_as(role: str) -> Iterator[None]:
    """Django's default connection logs in as ``role`` for the block, straight to the server
    (it trusts local logins, as the suite's DATABASE_URL does; a pooler would not)."""
    settings_dict = connection.settings_dict
    login = {**server_behind(), "USER": role}
    previous = {name: settings_dict[name] for name in login}
    connection.close()
    settings_dict.update(login)
    rollup_state.forget()
    try:
        yield
    finally:
        connection.close()
        settings_dict.update(previous)
        rollup_state.forget()


@pytest.fixture
def app_role(rollup: None) -> Iterator[str]:
    """A login with exactly the documented grants, as the owner gives them after install."""
    sql(f"DROP ROLE IF EXISTS {ROLE}")
    sql(f"CREATE ROLE {ROLE} LOGIN")
    # Beyond these, only what PostgreSQL gives every role: CONNECT, USAGE on public.
    for statement in documented_grants():
        assert re.search(rf"\bTO {DOCUMENTED_ROLE}$", statement), statement
        sql(statement.replace(DOCUMENTED_ROLE, ROLE))
    yield ROLE
    sql(f"DROP OWNED BY {ROLE}")
    sql(f"DROP ROLE {ROLE}")


def tamper_with_the_rollup(agency_id: uuid.UUID) -> None:
    """Three more calls in the agency's buckets than calls holds, on both clocks: an answer
    with them came from the rollup, one without them from the scan."""
    call_command("heatmap_rollup", "fold", stdout=io.StringIO())
    for grain in ("agency_buckets", "lead_agency_buckets"):
        sql(
            f"UPDATE analytics_heatmap.{grain} SET total_calls = total_calls + 3 "
            "WHERE agency_id = %s",
            [str(agency_id)],
        )


def test_the_documented_grants_let_django_read_the_rollup_and_run_status(
    app_role: str,
) -> None:
    agency_id = uuid.uuid4()
    user = User.objects.create(id=uuid.uuid4(), agency_id=agency_id)
    call = ended_call(agency_id)
    sql("UPDATE calls SET phone_number = '+14155550123' WHERE id = %s", [str(call.id)])
    tamper_with_the_rollup(agency_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")

    with connected_as(app_role):
        assert sql("SELECT current_user") == [(app_role,)]
        for clock in ("tz", "lead"):
            response = client.get(HEATMAP_URL, {"clock": clock, "tz": "UTC"})
            assert response.status_code == 200, response.content
            [cell] = response.json()["heatmap"]
            assert cell["total_calls"] == 4, f"clock={clock} did not read the rollup"
        out = io.StringIO()
        call_command("heatmap_rollup", "status", stdout=out)  # exits 0: ready and readable

    assert "Installed on 'default', version" in out.getvalue()
    assert "1 agency buckets" in out.getvalue()
    assert "clock=lead reads the rollup" in out.getvalue()


def test_the_documented_grants_open_nothing_but_reading(app_role: str) -> None:
    denied = [
        "INSERT INTO calls (id, agency_id) VALUES (gen_random_uuid(), gen_random_uuid())",
        "UPDATE calls SET status = 'ended'",
        "DELETE FROM users",
        "TRUNCATE calls",
        "DELETE FROM analytics_lead_prefix_range",
        "UPDATE analytics_lead_zone_map SET version = 'forged'",
        "INSERT INTO analytics_heatmap.pending (agency_id, bucket, lead_group, total_calls, "
        "connected_calls, meetings_booked) VALUES (gen_random_uuid(), now(), 0, 1, 0, 0)",
        "UPDATE analytics_heatmap.agency_buckets SET total_calls = 0",
        "DELETE FROM analytics_heatmap.rollup_state",
        "UPDATE analytics_heatmap.calls_shape SET recorded_by = 'forged'",
        "SELECT analytics_heatmap.fold()",
        "SELECT analytics_heatmap.repair()",
        "SELECT * FROM analytics_heatmap.differences()",
        "SELECT analytics_heatmap.record_calls_shape('calls', 'forged')",
        "SELECT FROM analytics_heatmap.maintenance FOR UPDATE",
        "SELECT FROM analytics_heatmap.rollup_state FOR SHARE",
        "CREATE TABLE analytics_heatmap.intruder (id int)",
        "DROP VIEW analytics_heatmap.agency_counts",
    ]
    refused = []
    with connected_as(app_role):
        for statement in denied:
            try:
                with transaction.atomic():
                    sql(statement)
            except DatabaseError as exc:
                if "permission denied" in str(exc) or "must be owner" in str(exc):
                    refused.append(statement)
                else:
                    raise
    assert refused == denied


def assert_reads_the_rollup(role: str, agency_id: uuid.UUID, user: User) -> None:
    tamper_with_the_rollup(agency_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    with connected_as(role):
        response = client.get(HEATMAP_URL, {"tz": "UTC", "period": "7d"})
        call_command("heatmap_rollup", "status", stdout=io.StringIO())
    assert response.status_code == 200, response.content
    [cell] = response.json()["heatmap"]
    assert cell["total_calls"] == 4


def test_the_grants_outlive_a_rebuild_and_a_remap(app_role: str) -> None:
    """A rebuild drops the schema, a remap swaps new tables in: the role reads on."""
    agency_id = uuid.uuid4()
    user = User.objects.create(id=uuid.uuid4(), agency_id=agency_id)
    ended_call(agency_id)
    sql("DROP TRIGGER analytics_heatmap_insert ON calls")  # stale: install builds it anew
    call_command("heatmap_rollup", "install", stdout=io.StringIO())
    assert_reads_the_rollup(app_role, agency_id, user)
    sql("UPDATE analytics_lead_zone_map SET version = %s", [f"newer-{uuid.uuid4().hex[:8]}"])
    out = io.StringIO()
    call_command("heatmap_rollup", "install", stdout=out)
    assert "Rebuilt for the time-zone map" in out.getvalue()
    assert_reads_the_rollup(app_role, agency_id, user)
