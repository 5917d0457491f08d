"""The rollup on a real PostgreSQL server, with its real triggers: it always equals the raw count.

Every test here commits (the install runs transactions of its own), so each one
starts from an empty ``calls`` table and leaves the rollup uninstalled.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from analytics.checks import check_heatmap_settings, check_rollup_source
from analytics.domain import Period, Zone
from analytics.models import Call, User
from analytics.queries import HeatmapQuery
from analytics.rollup import install as rollup_install
from analytics.rollup import state as rollup_state
from analytics.rollup.inspect import (
    fold_pending,
    repair_rollup,
    rollup_differences,
    rollup_status,
)
from analytics.rollup.install import RollupError, install, uninstall
from analytics.selectors import count_rollup_by_slot, reads_rollup, scan_calls_for
from tests.conftest import HEATMAP_CSV_URL, HEATMAP_URL, mint_token

pytestmark = pytest.mark.django_db(
    transaction=True
)  # every test skips off PostgreSQL (clean_database)

ROOT = Path(__file__).resolve().parent.parent
#: Zones whose offsets are quarter and half hours, with daylight-saving changes inside
#: the 90-day window ending today (Chatham 09-27, Lord Howe 10-04, St John's 11-01).
ZONES = (
    "UTC",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "America/New_York",
)
CAMPAIGNS = (None, uuid.UUID(int=1), uuid.UUID(int=2))
CLIENTS = (None, uuid.UUID(int=11), uuid.UUID(int=12))
STATUSES = ("ended", "ended", "ended", "in_progress", "queued", "failed")
END_REASONS = (None, "completed", "unjoined", "voicemail")
ANALYSES: tuple[Any, ...] = (
    None,
    {"sdr": {"meeting_booked": True}},
    {"sdr": {"meeting_booked": False}},
    {"sdr": {"meeting_booked": "true"}},
    {"summary": "no sdr"},
)


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def empty_calls() -> None:
    sql("TRUNCATE calls, users")


@pytest.fixture(autouse=True)
def clean_database(on_postgresql: None) -> Iterator[None]:
    """Each test starts and ends with empty tables and no rollup."""
    rollup_state.forget()
    empty_calls()
    yield
    if connection.in_atomic_block:  # a test that failed inside atomic()
        return
    uninstall(using="default")
    empty_calls()
    rollup_state.forget()


@pytest.fixture
def rollup() -> None:
    install(using="default")


@pytest.fixture
def agency() -> uuid.UUID:
    agency_id = uuid.uuid4()
    User.objects.create(id=uuid.uuid4(), agency_id=agency_id)
    return agency_id


def ended_call(agency_id: uuid.UUID) -> Call:
    return Call.objects.create(
        id=uuid.uuid4(), agency_id=agency_id, status="ended", created_at=timezone.now()
    )


def moment_in_window(rng: random.Random, today: date) -> datetime:
    """A random instant of the last 91 days, often near the window's DST changes and edges."""
    if rng.random() < 0.4:
        anchor = rng.choice(
            [
                datetime(2026, 9, 26, 14, 45, tzinfo=UTC),  # Chatham springs forward
                datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # Lord Howe, half an hour
                datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # St John's falls back
                datetime(2026, 11, 1, 6, 0, tzinfo=UTC),  # New York falls back
                datetime.combine(today, datetime.min.time(), tzinfo=UTC),
            ]
        )
        return anchor + timedelta(minutes=rng.randint(-90, 90), seconds=rng.randint(0, 59))
    start = datetime.combine(today - timedelta(days=91), datetime.min.time(), tzinfo=UTC)
    return start + timedelta(seconds=rng.randint(0, 92 * 86400))


def random_call(rng: random.Random, agencies: list[uuid.UUID], today: date) -> Call:
    created = moment_in_window(rng, today)
    return Call(
        id=uuid.uuid4(),
        agency_id=rng.choice(agencies),
        campaign_id=rng.choice(CAMPAIGNS),
        client_id=rng.choice(CLIENTS),
        status=rng.choice(STATUSES),
        created_at=created,
        joined_at=created + timedelta(seconds=5) if rng.random() < 0.5 else None,
        end_reason=rng.choice(END_REASONS),
        analysis=rng.choice(ANALYSES),
    )


def query_for(
    zone: str, period: Period = Period.DAYS_90, *, campaign: Any = None, client: Any = None
) -> HeatmapQuery:
    return HeatmapQuery.build(
        period=period,
        zone=Zone.named(zone),
        campaign_id=campaign,
        client_id=client,
        today=timezone.now().astimezone(UTC).date(),
    )


def assert_rollup_equals_raw(agency_id: uuid.UUID, query: HeatmapQuery) -> None:
    assert count_rollup_by_slot(agency_id=agency_id, query=query) == scan_calls_for(
        agency_id=agency_id, query=query
    )


CALL_COLUMNS = (
    "id",
    "agency_id",
    "campaign_id",
    "client_id",
    "status",
    "created_at",
    "joined_at",
    "end_reason",
    "analysis",
)


def insert_calls(calls: list[Call]) -> None:
    """One multi-row INSERT, as an import or a dialler writes a batch.

    Not ``bulk_create``: on PostgreSQL, Django 5.2 and later send its rows as text
    arrays, which an enum ``status`` column refuses.
    """
    row = "(" + ", ".join(["%s"] * len(CALL_COLUMNS)) + ")"
    params: list[Any] = []
    for call in calls:
        params += [
            call.id,
            call.agency_id,
            call.campaign_id,
            call.client_id,
            call.status,
            call.created_at,
            call.joined_at,
            call.end_reason,
            None if call.analysis is None else json.dumps(call.analysis),
        ]
    sql(
        f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES {', '.join([row] * len(calls))}",
        params,
    )


def copy_calls(calls: list[Call]) -> None:
    """``COPY calls FROM STDIN``, through whichever driver this run uses."""
    columns = ("id", "agency_id", "campaign_id", "client_id", "status", "created_at", "end_reason")
    lines = "".join(
        "\t".join(
            "\\N" if value is None else str(value)
            for value in (
                call.id,
                call.agency_id,
                call.campaign_id,
                call.client_id,
                call.status,
                call.created_at.isoformat(),
                call.end_reason,
            )
        )
        + "\n"
        for call in calls
    )
    statement = f"COPY calls ({', '.join(columns)}) FROM STDIN"
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        if hasattr(cursor, "copy"):  # psycopg 3
            with cursor.copy(statement) as copy:
                copy.write(lines)
        else:  # psycopg2
            cursor.copy_expert(statement, io.StringIO(lines))
    if not connection.get_autocommit():
        raw.commit()


# --- Kept current by the triggers ---------------------------------------------------------


class RollupAgainstCalls(RuleBasedStateMachine):
    """Random writes of every kind to calls; after each, the rollup equals a fresh count."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random()
        self.today = timezone.now().astimezone(UTC).date()
        self.agencies = [uuid.uuid4(), uuid.uuid4()]

    @initialize()
    def start_empty(self) -> None:
        empty_calls()

    def some_ids(self, count: int) -> list[uuid.UUID]:
        ids = list(Call.objects.values_list("id", flat=True))
        return self.rng.sample(ids, min(count, len(ids)))

    @rule(seed=st.integers(), count=st.integers(1, 40))
    def insert_many(self, seed: int, count: int) -> None:
        self.rng.seed(seed)
        insert_calls([random_call(self.rng, self.agencies, self.today) for _ in range(count)])

    @rule(seed=st.integers())
    def insert_one(self, seed: int) -> None:
        self.rng.seed(seed)
        random_call(self.rng, self.agencies, self.today).save(force_insert=True)

    @rule(seed=st.integers(), count=st.integers(1, 30))
    def copy(self, seed: int, count: int) -> None:
        self.rng.seed(seed)
        copy_calls([random_call(self.rng, self.agencies, self.today) for _ in range(count)])

    @rule(seed=st.integers(), count=st.integers(1, 20), status=st.sampled_from(STATUSES))
    def change_status(self, seed: int, count: int, status: str) -> None:
        """queued -> in_progress -> ended, or an ended call re-opened."""
        self.rng.seed(seed)
        Call.objects.filter(id__in=self.some_ids(count)).update(status=status)

    @rule(seed=st.integers(), count=st.integers(1, 20), analysis=st.sampled_from(ANALYSES))
    def fill_in_analysis(self, seed: int, count: int, analysis: Any) -> None:
        self.rng.seed(seed)
        Call.objects.filter(id__in=self.some_ids(count)).update(analysis=analysis)

    @rule(seed=st.integers(), reason=st.sampled_from(END_REASONS), joined=st.booleans())
    def correct_end_reason(self, seed: int, reason: str | None, joined: bool) -> None:
        self.rng.seed(seed)
        joined_at = timezone.now() if joined else None
        Call.objects.filter(id__in=self.some_ids(5)).update(end_reason=reason, joined_at=joined_at)

    @rule(seed=st.integers(), minutes=st.integers(-2000, 2000))
    def move_in_time(self, seed: int, minutes: int) -> None:
        self.rng.seed(seed)
        ids = self.some_ids(10)
        sql(
            "UPDATE calls SET created_at = created_at + make_interval(mins => %s) "
            "WHERE id = ANY(%s)",
            [minutes, ids],
        )

    @rule(seed=st.integers())
    def move_between_agencies_campaigns_and_clients(self, seed: int) -> None:
        self.rng.seed(seed)
        for call_id in self.some_ids(6):
            Call.objects.filter(id=call_id).update(
                agency_id=self.rng.choice(self.agencies),
                campaign_id=self.rng.choice(CAMPAIGNS),
                client_id=self.rng.choice(CLIENTS),
            )

    @rule(seed=st.integers(), count=st.integers(1, 15))
    def delete(self, seed: int, count: int) -> None:
        self.rng.seed(seed)
        Call.objects.filter(id__in=self.some_ids(count)).delete()

    @rule()
    def edit_what_does_not_count(self) -> None:
        sql("UPDATE calls SET phone_number = md5(random()::text)")

    @rule(seed=st.integers())
    def roll_back(self, seed: int) -> None:
        """A write rolled back, in any form, never shows."""
        self.rng.seed(seed)
        with pytest.raises(RuntimeError, match="roll back"):
            self.write_then_roll_back()

    def write_then_roll_back(self) -> None:
        with transaction.atomic():
            insert_calls([random_call(self.rng, self.agencies, self.today)])
            Call.objects.filter(id__in=self.some_ids(5)).update(status="ended")
            Call.objects.filter(id__in=self.some_ids(3)).delete()
            sql("TRUNCATE calls")
            raise RuntimeError("roll back")

    @rule()
    def fold(self) -> None:
        """The background fold, at any moment: answers are the same before and after."""
        fold_pending(using="default")
        assert sql("SELECT count(*) FROM analytics_heatmap.pending") == [(0,)]

    @rule()
    def truncate(self) -> None:
        if self.rng.random() < 0.3:
            sql("TRUNCATE calls")

    @invariant()
    def rollup_equals_raw(self) -> None:
        zone = self.rng.choice(ZONES)
        for agency_id in self.agencies:
            assert_rollup_equals_raw(agency_id, query_for(zone))
            campaign = self.rng.choice(CAMPAIGNS[1:])
            client = self.rng.choice(CLIENTS)
            assert_rollup_equals_raw(agency_id, query_for(zone, campaign=campaign, client=client))
        assert rollup_differences(using="default") == []


def test_random_writes_of_every_kind_keep_the_rollup_equal_to_calls(rollup: None) -> None:
    """The machine above, run against the installed rollup."""
    assert rollup_state.rollup_ready("default")
    run_state_machine_as_test(
        RollupAgainstCalls,
        settings=hypothesis_settings(
            max_examples=int(os.environ.get("ROLLUP_MACHINE_EXAMPLES", "15")),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_every_zone_and_filter_answers_byte_for_byte_as_the_raw_scan(
    rollup: None, agency: uuid.UUID, settings: Any
) -> None:
    rng = random.Random(12)
    today = timezone.now().astimezone(UTC).date()
    insert_calls([random_call(rng, [agency], today) for _ in range(400)])
    token = mint_token(sub=str(User.objects.get(agency_id=agency).id))
    from rest_framework.test import APIClient

    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    asked = seen_calls = 0
    for zone in ZONES:
        for params in (
            {"period": "90d"},
            {"period": "7d", "metric": "connect_rate", "min_calls": "1"},
            {"period": "30d", "campaign_id": str(CAMPAIGNS[1])},
            {"period": "90d", "client_id": str(CLIENTS[2]), "metric": "meetings_booked"},
            {"period": "90d", "campaign_id": str(CAMPAIGNS[2]), "client_id": str(CLIENTS[1])},
        ):
            query = {**params, "tz": zone}
            settings.ANALYTICS_HEATMAP_SOURCE = "auto"
            with CaptureQueriesContext(connection) as from_rollup:
                rolled = client.get(HEATMAP_URL, query)
                rolled_csv = client.get(HEATMAP_CSV_URL, query)
            settings.ANALYTICS_HEATMAP_SOURCE = "raw"
            with CaptureQueriesContext(connection) as from_raw:
                raw = client.get(HEATMAP_URL, query)
                raw_csv = client.get(HEATMAP_CSV_URL, query)
            assert rolled.status_code == raw.status_code == 200
            assert rolled.content == raw.content, query
            assert rolled_csv.content == raw_csv.content, query
            assert any("analytics_heatmap" in q["sql"] for q in from_rollup.captured_queries)
            assert not any('FROM "calls"' in q["sql"] for q in from_rollup.captured_queries)
            assert not any("analytics_heatmap" in q["sql"] for q in from_raw.captured_queries)
            asked += 1
            seen_calls += sum(cell["total_calls"] for cell in rolled.json()["heatmap"])
    assert asked == len(ZONES) * 5
    assert seen_calls > 1000


def test_a_committed_write_shows_in_the_next_answer_a_rolled_back_one_never(
    rollup: None, agency: uuid.UUID
) -> None:
    query = query_for("Asia/Kathmandu")
    now = timezone.now()
    call = Call.objects.create(id=uuid.uuid4(), agency_id=agency, status="queued", created_at=now)
    assert count_rollup_by_slot(agency_id=agency, query=query) == ()
    Call.objects.filter(id=call.id).update(status="ended")
    [cell] = count_rollup_by_slot(agency_id=agency, query=query)
    assert cell.total_calls == 1

    def delete_then_roll_back() -> None:
        with transaction.atomic():
            Call.objects.filter(id=call.id).delete()
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        delete_then_roll_back()
    assert count_rollup_by_slot(agency_id=agency, query=query) == (cell,)


# --- Safe on Supabase -----------------------------------------------------------------------


#: ``SET ROLE`` is session state, which a transaction-mode pooler does not keep between
#: statements: these tests need a direct connection.
needs_session = pytest.mark.skipif(
    os.environ.get("DATABASE_POOL_MODE", "").lower() == "transaction",
    reason="SET ROLE needs a session, which a transaction-mode pooler does not keep",
)


def ensure_role(role: str, options: str = "") -> None:
    """Roles belong to the server, not the test database: made once, kept."""
    if not sql("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]):
        sql(f"CREATE ROLE {role} NOLOGIN {options}")
    elif options:
        sql(f"ALTER ROLE {role} {options}")


@pytest.fixture
def supabase_roles() -> Iterator[None]:
    """Supabase's API roles, granted on calls as Supabase grants them, RLS on calls.

    ``service_role`` bypasses row security, as on Supabase.
    """
    for role, options in (("anon", ""), ("authenticated", ""), ("service_role", "BYPASSRLS")):
        ensure_role(role, options)
        sql(f"GRANT ALL ON calls TO {role}")
        sql(f"GRANT USAGE ON SCHEMA public TO {role}")
    sql("ALTER TABLE calls ENABLE ROW LEVEL SECURITY")
    sql("CREATE POLICY calls_for_members ON calls TO authenticated USING (true) WITH CHECK (true)")
    yield
    sql("RESET ROLE")
    sql("DROP POLICY IF EXISTS calls_for_members ON calls")
    sql("ALTER TABLE calls DISABLE ROW LEVEL SECURITY")
    for role in ("anon", "authenticated", "service_role"):
        sql(f"REVOKE ALL ON calls FROM {role}")


@needs_session
def test_writes_as_authenticated_under_rls_are_counted_and_the_rollup_is_closed_to_them(
    supabase_roles: None, agency: uuid.UUID
) -> None:
    install(using="default")
    now = timezone.now()
    sql("SET ROLE authenticated")
    sql(
        "INSERT INTO calls (agency_id, status, created_at) VALUES (%s, 'ended', %s), "
        "(%s, 'in_progress', %s)",
        [agency, now, agency, now],
    )
    sql("UPDATE calls SET status = 'ended' WHERE agency_id = %s", [agency])
    for forbidden in (
        "SELECT * FROM analytics_heatmap.agency_buckets",
        "UPDATE analytics_heatmap.agency_buckets SET total_calls = 0",
        "SELECT analytics_heatmap.repair(NULL)",
        "SELECT * FROM analytics_heatmap.counted_calls()",
    ):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            sql(forbidden)
    sql("SET ROLE service_role")
    sql("DELETE FROM calls WHERE status = 'ended' AND ctid = (SELECT min(ctid) FROM calls)")
    sql("RESET ROLE")
    [cell] = count_rollup_by_slot(agency_id=agency, query=query_for("UTC"))
    assert cell.total_calls == 1
    assert rollup_differences(using="default") == []
    # Supabase's lint 0011: every trigger function is SECURITY DEFINER with its path pinned.
    functions = sql(
        "SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc AS p "
        "JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'analytics_heatmap' AND p.prorettype = 'trigger'::regtype"
    )
    assert len(functions) == 4
    assert all(definer and config == ['search_path=""'] for _, definer, config in functions)
    grants = sql(
        "SELECT count(*) FROM information_schema.role_routine_grants "
        "WHERE routine_schema = 'analytics_heatmap' "
        "AND grantee IN ('PUBLIC', 'anon', 'authenticated', 'service_role')"
    )
    assert grants == [(0,)]
    assert sql(
        "SELECT bool_and(relrowsecurity) FROM pg_class "
        "WHERE relnamespace = 'analytics_heatmap'::regnamespace AND relkind = 'r'"
    ) == [(True,)]


@pytest.fixture
def owner_role() -> Iterator[str]:
    """A role that owns calls and is no superuser, as ``postgres`` is on Supabase."""
    role = "analytics_calls_owner"
    ensure_role(role, "NOSUPERUSER")
    database = connection.settings_dict["NAME"]
    [(previous_owner,)] = sql(
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'calls'::regclass"
    )
    sql(f"ALTER TABLE calls OWNER TO {role}")
    sql(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
    sql(f'GRANT CREATE ON DATABASE "{database}" TO {role}')
    yield role
    sql("RESET ROLE")
    uninstall(using="default")
    sql(f'ALTER TABLE calls OWNER TO "{previous_owner}"')
    sql(f'REVOKE CREATE ON DATABASE "{database}" FROM {role}')


@needs_session
def test_the_owner_of_calls_installs_without_superuser_rights(
    owner_role: str, agency: uuid.UUID
) -> None:
    Call.objects.create(
        id=uuid.uuid4(), agency_id=agency, status="ended", created_at=timezone.now()
    )
    sql(f"SET ROLE {owner_role}")
    assert sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [(False,)]
    install(using="default")
    assert rollup_status(using="default").current
    assert rollup_differences(using="default") == []
    assert uninstall(using="default")
    sql("RESET ROLE")


@needs_session
def test_a_missing_privilege_is_named_and_nothing_is_left_behind(owner_role: str) -> None:
    database = connection.settings_dict["NAME"]
    sql(f'REVOKE CREATE ON DATABASE "{database}" FROM {owner_role}')
    sql(f"SET ROLE {owner_role}")
    with pytest.raises(RollupError, match=f"lacks the CREATE privilege on database '{database}'"):
        install(using="default")
    sql("RESET ROLE")
    assert sql("SELECT to_regnamespace('analytics_heatmap')") == [(None,)]
    ensure_role("analytics_stranger")
    sql("SET ROLE analytics_stranger")
    with pytest.raises(RollupError, match=r"does not own public\.calls"):
        install(using="default")
    sql("RESET ROLE")


def test_a_failed_install_leaves_the_database_as_it_was(
    rollup_free: None, agency: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    Call.objects.create(
        id=uuid.uuid4(), agency_id=agency, status="ended", created_at=timezone.now()
    )

    def fail(*args: Any, **kwargs: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1/0")

    monkeypatch.setattr(rollup_install, "backfill", fail)
    with pytest.raises(RollupError, match="division by zero"):
        install(using="default")
    assert sql("SELECT to_regnamespace('analytics_heatmap')") == [(None,)]
    assert sql("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'analytics_heatmap%%'") == [(0,)]
    assert not reads_rollup(query_for("UTC"))
    Call.objects.create(
        id=uuid.uuid4(), agency_id=agency, status="ended", created_at=timezone.now()
    )


@pytest.fixture
def rollup_free() -> None:
    """Nothing of the rollup on the database (the autouse fixture also removes it after)."""
    uninstall(using="default")


# --- Install online, verify and repair -----------------------------------------------------


class Writers:
    """Connections of their own writing calls until stopped: inserts, endings, deletes."""

    def __init__(self, agency_id: uuid.UUID, count: int = 4) -> None:
        self.agency_id = agency_id
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.writes = 0
        self.threads = [threading.Thread(target=self.write, args=(n,)) for n in range(count)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not self.errors, self.errors

    def write(self, n: int) -> None:
        from django.db import connections

        rng = random.Random(n)
        try:
            while not self.stopping.is_set():
                created = timezone.now() - timedelta(minutes=rng.randint(0, 60 * 24 * 80))
                Call.objects.create(
                    id=uuid.uuid4(),
                    agency_id=self.agency_id,
                    status="in_progress",
                    created_at=created,
                    campaign_id=rng.choice(CAMPAIGNS),
                )
                open_calls = Call.objects.filter(agency_id=self.agency_id, status="in_progress")
                ending = list(open_calls.values_list("id", flat=True)[:3])
                Call.objects.filter(id__in=ending).update(status="ended")
                if rng.random() < 0.2:
                    Call.objects.filter(id__in=ending[:1]).delete()
                self.writes += 1
        except BaseException as exc:  # reported by __exit__
            self.errors.append(exc)
        finally:
            connections.close_all()


def test_install_backfills_online_while_writers_write_and_verify_finds_nothing(
    agency: uuid.UUID,
) -> None:
    rng = random.Random(3)
    today = timezone.now().astimezone(UTC).date()
    insert_calls([random_call(rng, [agency], today) for _ in range(3000)])
    lines: list[str] = []
    with Writers(agency) as writers:
        report = install(using="default", progress=lines.append)
        rollup_state.forget()
    assert writers.writes > 20
    assert report.rows_counted > 0
    assert report.longest_block_ms < 2000
    assert any(line.startswith("counting calls:") for line in lines)
    assert rollup_differences(using="default") == []
    for zone in ZONES:
        assert_rollup_equals_raw(agency, query_for(zone))


def test_a_second_install_changes_no_number(rollup: None, agency: uuid.UUID) -> None:
    rng = random.Random(5)
    today = timezone.now().astimezone(UTC).date()
    insert_calls([random_call(rng, [agency], today) for _ in range(300)])
    table = "SELECT * FROM analytics_heatmap.segment_buckets ORDER BY 1, 2, 3, 4"
    before = sql(table)
    report = install(using="default")
    assert report.already_installed
    assert sql(table) == before


def test_verify_finds_a_damaged_rollup_and_repair_mends_it(rollup: None, agency: uuid.UUID) -> None:
    rng = random.Random(7)
    today = timezone.now().astimezone(UTC).date()
    insert_calls([random_call(rng, [agency], today) for _ in range(300)])
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
    assert f"agency {agency} at " in out.getvalue()
    out = io.StringIO()
    call_command("heatmap_rollup", "verify", "--agency", str(agency), "--repair", stdout=out)
    assert "Repaired 2 buckets" in out.getvalue()
    call_command("heatmap_rollup", "verify", stdout=io.StringIO())
    assert repair_rollup(using="default") == 0


# --- The command ----------------------------------------------------------------------------


def test_status_says_what_is_there_and_exits_0_only_when_ready(agency: uuid.UUID) -> None:
    out = io.StringIO()
    with pytest.raises(CommandError, match="not installed"):
        call_command("heatmap_rollup", "status", stdout=out)
    assert "the heatmap reads calls directly" in out.getvalue()
    Call.objects.create(
        id=uuid.uuid4(), agency_id=agency, status="ended", created_at=timezone.now()
    )
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
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "heatmap_project.settings",
        "DATABASE_URL": database_url.format(tmp=tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "heatmap_rollup", action],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == (2 if "invalid choice" in message else 1)
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# --- Reading ---------------------------------------------------------------------------------


def test_auto_reads_the_rollup_only_when_ready_and_raw_never(
    agency: uuid.UUID, settings: Any
) -> None:
    query = query_for("Asia/Kathmandu")
    assert not reads_rollup(query)
    install(using="default")
    assert reads_rollup(query)
    settings.ANALYTICS_HEATMAP_SOURCE = "raw"
    assert not reads_rollup(query)
    settings.ANALYTICS_HEATMAP_SOURCE = "auto"
    uninstall(using="default")
    assert not reads_rollup(query)


def test_a_rollup_dropped_behind_the_apps_back_is_answered_from_calls(
    rollup: None, agency: uuid.UUID, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    Call.objects.create(
        id=uuid.uuid4(), agency_id=agency, status="ended", created_at=timezone.now()
    )
    user = User.objects.get(agency_id=agency)
    from rest_framework.test import APIClient

    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {mint_token(sub=str(user.id))}")
    assert rollup_state.rollup_ready("default")  # remembered for a few seconds
    sql("DROP SCHEMA analytics_heatmap CASCADE")
    response = client.get(HEATMAP_URL)
    assert response.status_code == 200
    assert response.json()["heatmap"][0]["total_calls"] == 1
    assert "Rollup read failed" in caplog.text
    assert not rollup_state.rollup_ready("default")


def test_the_rollup_source_setting_is_checked(settings: Any) -> None:
    settings.ANALYTICS_HEATMAP_SOURCE = "rollup"
    [error] = check_rollup_source(databases=["default"])
    assert error.id == "analytics.E017"
    assert "not installed" in error.msg
    install(using="default")
    assert check_rollup_source(databases=["default"]) == []
    settings.ANALYTICS_HEATMAP_SOURCE = "sometimes"
    assert [m.id for m in check_heatmap_settings()] == ["analytics.E016"]


def test_the_hosts_own_migrations_of_calls_are_not_blocked(rollup: None, agency: uuid.UUID) -> None:
    """Nothing of the rollup depends on calls' columns: Supabase migrations still run."""
    sql("ALTER TABLE calls ALTER COLUMN end_reason TYPE text")
    sql("ALTER TABLE calls ALTER COLUMN status TYPE text")
    sql("ALTER TABLE calls ADD COLUMN recording_url text")
    ended_call(agency)
    assert rollup_differences(using="default") == []
    [cell] = count_rollup_by_slot(agency_id=agency, query=query_for("UTC"))
    assert cell.total_calls == 1
    sql("ALTER TABLE calls DROP COLUMN recording_url")
    sql("ALTER TABLE calls ALTER COLUMN status TYPE call_status USING status::call_status")
    sql("ALTER TABLE calls ALTER COLUMN status SET DEFAULT 'queued'")
    sql(
        "ALTER TABLE calls ALTER COLUMN end_reason TYPE call_end_reason "
        "USING end_reason::call_end_reason"
    )


def test_a_truncate_during_the_backfill_fails_the_install_cleanly(
    agency: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counted snapshot would outlive the truncate: the install says so and undoes."""
    ended_call(agency)
    real_backfill = rollup_install.backfill

    def backfill_then_truncate(*args: Any, **kwargs: Any) -> Any:
        counted = real_backfill(*args, **kwargs)
        sql("TRUNCATE calls")
        return counted

    monkeypatch.setattr(rollup_install, "backfill", backfill_then_truncate)
    with pytest.raises(RollupError, match="truncated while the rollup was being built"):
        install(using="default")
    assert sql("SELECT to_regnamespace('analytics_heatmap')") == [(None,)]


def test_a_rollup_whose_triggers_are_gone_is_not_read(rollup: None, agency: uuid.UUID) -> None:
    """Without its triggers the rollup goes stale: the scan answers, status says so."""
    assert reads_rollup(query_for("UTC"))
    sql("DROP TRIGGER analytics_heatmap_insert ON calls")
    rollup_state.forget()
    assert not reads_rollup(query_for("UTC"))
    with pytest.raises(CommandError, match="cannot answer yet"):
        call_command("heatmap_rollup", "status", stdout=io.StringIO())
    install(using="default")  # a rollup that is not current is installed afresh
    assert reads_rollup(query_for("UTC"))
