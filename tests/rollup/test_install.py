"""Install and uninstall the rollup on a real PostgreSQL server, and its triggers keeping it
equal to the raw count through every kind of write.

Every test here commits (the install runs transactions of its own), so each one
starts from an empty ``calls`` table and leaves the rollup uninstalled
(``rollup_database``).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
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

from analytics.exceptions import RollupError
from analytics.heatmap.lead_clock import e164_digits, shipped_map
from analytics.heatmap.query import HeatmapQuery
from analytics.heatmap.selectors import (
    SlotCounts,
    count_rollup_by_slot,
    count_rollup_lead_by_slot,
    reads_rollup,
    scan_calls_for,
    scan_lead_calls_for,
)
from analytics.heatmap.vocabulary import Clock
from analytics.models import Call
from analytics.rollup import install as rollup_install
from analytics.rollup import state as rollup_state
from analytics.rollup.inspect import fold_pending, rollup_differences, rollup_status
from analytics.rollup.install import install, uninstall
from tests.helpers import (
    ANALYSES,
    CALL_COLUMNS,
    CAMPAIGNS,
    CLIENTS,
    END_REASONS,
    ON_THE_ROLLUP_DATABASE,
    PHONE_NUMBERS,
    ROLLUP_ZONES,
    SHIPPED,
    STATUSES,
    call_row,
    empty_calls,
    ended_call,
    insert_calls,
    insert_random_calls,
    oracle_lead_heatmap,
    query_for,
    random_call,
    sql,
    utc_today,
)

pytestmark = ON_THE_ROLLUP_DATABASE

#: The app's time-zone map, which install copies into the rollup.
MAP_TABLES = "analytics_lead_prefix_range, analytics_lead_zone_map"


def assert_rollup_equals_raw(agency_id: uuid.UUID, query: HeatmapQuery) -> None:
    assert count_rollup_by_slot(agency_id=agency_id, query=query) == scan_calls_for(
        agency_id=agency_id, query=query
    )


def lead_query(zone: str, **filters: Any) -> HeatmapQuery:
    """:func:`query_for` on the lead's clock: the window in ``zone``, each call in the lead's."""
    return dataclasses.replace(query_for(zone, **filters), clock=Clock.LEAD)


def as_oracle(counted: SlotCounts) -> tuple[dict[tuple[int, int], list[int]], int | None]:
    """An answer in the shape :func:`oracle_lead_heatmap` gives."""
    cells = {
        (cell.day, cell.hour): [cell.total_calls, cell.connected_calls, cell.meetings_booked]
        for cell in counted.cells
    }
    return cells, counted.unplaced


def lead_from_rollup(agency_id: uuid.UUID, query: HeatmapQuery) -> SlotCounts:
    assert reads_rollup(query)
    return count_rollup_lead_by_slot(agency_id=agency_id, query=query)


def lead_from_raw(agency_id: uuid.UUID, query: HeatmapQuery) -> SlotCounts:
    return scan_lead_calls_for(agency_id=agency_id, query=query)


def lead_from_oracle(
    agency_id: uuid.UUID, query: HeatmapQuery
) -> tuple[dict[tuple[int, int], list[int]], int]:
    """The oracle's answer (``phonenumbers``' own map, Python's zones) for the query's calls."""
    calls = Call.objects.filter(agency_id=agency_id)
    if query.campaign_id is not None:
        calls = calls.filter(campaign_id=query.campaign_id)
    if query.client_id is not None:
        calls = calls.filter(client_id=query.client_id)
    return oracle_lead_heatmap(calls, start=query.start, end=query.end)


def assert_lead_rollup_equals_raw_and_oracle(agency_id: uuid.UUID, query: HeatmapQuery) -> None:
    rolled = lead_from_rollup(agency_id, query)
    assert rolled == lead_from_raw(agency_id, query)
    assert as_oracle(rolled) == lead_from_oracle(agency_id, query)


def copy_calls(calls: list[Call]) -> None:
    """``COPY calls FROM STDIN``, whole rows, through whichever driver this run uses."""
    lines = "".join(
        "\t".join("\\N" if value is None else copy_text(value) for value in call_row(call)) + "\n"
        for call in calls
    )
    statement = f"COPY calls ({', '.join(CALL_COLUMNS)}) FROM STDIN"
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


def copy_text(value: object) -> str:
    """A value in COPY's text format: an instant in ISO 8601, a tab or backslash escaped."""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t")


# --- kept current by the triggers -------------------------------------------------------


class RollupAgainstCalls(RuleBasedStateMachine):
    """Random writes of every kind to calls; after each, the rollup equals a fresh count."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random()
        self.today = utc_today()
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

    @rule(seed=st.integers(), count=st.integers(1, 20))
    def change_phone_number(self, seed: int, count: int) -> None:
        """Another number, in another zone group, formatted, or no number at all."""
        self.rng.seed(seed)
        for call_id in self.some_ids(count):
            number = self.rng.choice(PHONE_NUMBERS)
            Call.objects.filter(id=call_id).update(phone_number=number)

    @rule()
    def edit_what_does_not_count(self) -> None:
        sql("UPDATE calls SET duration_seconds = 60, ended_at = created_at + interval '1 minute'")

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
        zone = self.rng.choice(ROLLUP_ZONES)
        for agency_id in self.agencies:
            assert_rollup_equals_raw(agency_id, query_for(zone))
            campaign = self.rng.choice(CAMPAIGNS[1:])
            client = self.rng.choice(CLIENTS)
            assert_rollup_equals_raw(agency_id, query_for(zone, campaign=campaign, client=client))
            # Against the oracle alone: the raw scan is proven against it elsewhere (and
            # below, after each kind of write), and costs several times the rollup's read.
            lead = lead_query(zone, campaign=self.rng.choice(CAMPAIGNS))
            assert as_oracle(lead_from_rollup(agency_id, lead)) == lead_from_oracle(agency_id, lead)
        assert rollup_differences(using="default") == []


def test_random_writes_of_every_kind_keep_the_rollup_equal_to_calls(rollup: None) -> None:
    """The machine above, run against the installed rollup, both clocks."""
    assert getattr(rollup_state.current_state("default"), "answers_lead", False)
    run_state_machine_as_test(
        RollupAgainstCalls,
        settings=hypothesis_settings(
            max_examples=int(os.environ.get("ROLLUP_MACHINE_EXAMPLES", "15")),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_every_kind_of_write_keeps_the_lead_clock_as_the_raw_scan_and_the_oracle_place_it(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    """After each kind of write, committed: the rollup's lead answer is the raw scan's and
    the oracle's, with and without the filters, in two of the rollup's zones each time
    (all of them in turn)."""
    rng = random.Random(19)
    today = utc_today()
    zones = itertools.cycle(ROLLUP_ZONES)

    def check(write: str) -> None:
        for zone in (next(zones), next(zones)):
            for filters in ({}, {"campaign": CAMPAIGNS[1]}, {"client": CLIENTS[2]}):
                query = lead_query(zone, **filters)
                rolled = lead_from_rollup(rollup_agency, query)
                assert rolled == lead_from_raw(rollup_agency, query), (write, zone, filters)
                assert as_oracle(rolled) == lead_from_oracle(rollup_agency, query), write
        assert rollup_differences(using="default") == [], write

    def some_calls(count: int) -> list[uuid.UUID]:
        ids = list(Call.objects.order_by("id").values_list("id", flat=True))
        return rng.sample(ids, min(count, len(ids)))

    insert_calls([random_call(rng, [rollup_agency], today) for _ in range(400)])
    check("insert")
    placed = Call.objects.filter(status="ended", phone_number="+12125550100")
    assert placed.exists()  # New York, in the sample
    for number in ("+44 7911 123456", "+977 1 4412345", "(212) 555-0100", None):
        Call.objects.filter(id__in=some_calls(40)).update(phone_number=number)
        check(f"phone_number -> {number}")
    sql(
        "UPDATE calls SET created_at = created_at + interval '97 minutes' WHERE id = ANY(%s)",
        [some_calls(60)],
    )
    check("created_at")
    Call.objects.filter(id__in=some_calls(60)).update(status="in_progress")
    check("status: re-opened")
    Call.objects.filter(status="in_progress").update(status="ended")
    check("status: ended")
    Call.objects.filter(id__in=some_calls(50)).delete()
    check("delete")
    copy_calls([random_call(rng, [rollup_agency], today) for _ in range(80)])
    check("COPY")
    fold_pending(using="default")
    check("fold")
    sql("TRUNCATE calls")
    check("TRUNCATE")
    insert_calls([random_call(rng, [rollup_agency], today) for _ in range(50)])
    check("insert after TRUNCATE")


def test_a_committed_write_shows_in_the_next_answer_a_rolled_back_one_never(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    query = query_for("Asia/Kathmandu")
    # A day back: the window ends with today's UTC date, which in Kathmandu (UTC+5:45)
    # is already over from 18:15 UTC.
    yesterday = timezone.now() - timedelta(days=1)
    call = Call.objects.create(
        id=uuid.uuid4(), agency_id=rollup_agency, status="queued", created_at=yesterday
    )
    assert count_rollup_by_slot(agency_id=rollup_agency, query=query) == ()
    Call.objects.filter(id=call.id).update(status="ended")
    [cell] = count_rollup_by_slot(agency_id=rollup_agency, query=query)
    assert cell.total_calls == 1

    def delete_then_roll_back() -> None:
        with transaction.atomic():
            Call.objects.filter(id=call.id).delete()
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        delete_then_roll_back()
    assert count_rollup_by_slot(agency_id=rollup_agency, query=query) == (cell,)


# --- safe on Supabase -------------------------------------------------------------------


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
    supabase_roles: None, rollup_agency: uuid.UUID
) -> None:
    install(using="default")
    now = timezone.now()
    sql("SET ROLE authenticated")
    sql(
        "INSERT INTO calls (agency_id, status, created_at) VALUES (%s, 'ended', %s), "
        "(%s, 'in_progress', %s)",
        [rollup_agency, now, rollup_agency, now],
    )
    sql("UPDATE calls SET status = 'ended' WHERE agency_id = %s", [rollup_agency])
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
    [cell] = count_rollup_by_slot(agency_id=rollup_agency, query=query_for("UTC"))
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
    sql(f"GRANT SELECT ON {MAP_TABLES} TO {role}")
    yield role
    sql("RESET ROLE")
    uninstall(using="default")
    sql(f'ALTER TABLE calls OWNER TO "{previous_owner}"')
    sql(f'REVOKE CREATE ON DATABASE "{database}" FROM {role}')
    sql(f"REVOKE SELECT ON {MAP_TABLES} FROM {role}")


@needs_session
def test_the_owner_of_calls_installs_without_superuser_rights(
    owner_role: str, rollup_agency: uuid.UUID
) -> None:
    ended_call(rollup_agency)
    sql(f"SET ROLE {owner_role}")
    assert sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [(False,)]
    install(using="default")
    assert rollup_status(using="default").current
    assert rollup_differences(using="default") == []
    assert uninstall(using="default")
    sql("RESET ROLE")


def install_as(role: str, *, refused_with: str) -> None:
    """``install`` run as ``role`` raises a ``RollupError`` matching ``refused_with``."""
    sql(f"SET ROLE {role}")
    with pytest.raises(RollupError, match=refused_with):
        install(using="default")
    sql("RESET ROLE")


@needs_session
def test_a_missing_privilege_is_named_and_nothing_is_left_behind(owner_role: str) -> None:
    database = connection.settings_dict["NAME"]
    sql(f'REVOKE CREATE ON DATABASE "{database}" FROM {owner_role}')
    install_as(owner_role, refused_with=f"lacks the CREATE privilege on database '{database}'")
    assert sql("SELECT to_regnamespace('analytics_heatmap')") == [(None,)]
    sql(f'GRANT CREATE ON DATABASE "{database}" TO {owner_role}')
    sql(f"REVOKE SELECT ON {MAP_TABLES} FROM {owner_role}")
    install_as(owner_role, refused_with=f"GRANT SELECT ON .* TO {owner_role}")
    assert sql("SELECT to_regnamespace('analytics_heatmap')") == [(None,)]
    ensure_role("analytics_stranger")
    install_as("analytics_stranger", refused_with=r"does not own public\.calls")


def test_a_failed_install_leaves_the_database_as_it_was(
    rollup_free: None, rollup_agency: uuid.UUID, failing_backfill: None
) -> None:
    ended_call(rollup_agency)

    with pytest.raises(RollupError, match="division by zero"):
        install(using="default")
    assert sql("SELECT to_regnamespace('analytics_heatmap')") == [(None,)]
    assert sql("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'analytics_heatmap%%'") == [(0,)]
    assert not reads_rollup(query_for("UTC"))
    ended_call(rollup_agency)


@pytest.fixture
def failing_backfill(monkeypatch: pytest.MonkeyPatch) -> None:
    """The install's backfill fails with a database error, as a cancelled one would."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1/0")

    monkeypatch.setattr(rollup_install, "backfill", fail)


@pytest.fixture
def rollup_free() -> None:
    """Nothing of the rollup on the database (``rollup_database`` also removes it after)."""
    uninstall(using="default")


# --- installed online, once, and undone on failure --------------------------------------


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

    def wait_for(self, writes: int, seconds: float = 30.0) -> None:
        """Until the writers have made ``writes`` writes in all."""
        deadline = time.monotonic() + seconds
        while self.writes < writes and not self.errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.writes >= writes, self.errors

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
                    phone_number=rng.choice(PHONE_NUMBERS),
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
    rollup_agency: uuid.UUID,
) -> None:
    insert_random_calls(random.Random(3), rollup_agency, 3000)
    lines: list[str] = []
    with Writers(rollup_agency) as writers:
        report = install(using="default", progress=lines.append)
        rollup_state.forget()
    assert writers.writes > 20
    assert report.rows_counted > 0
    assert report.longest_block_ms < 2000
    assert any(line.startswith("counting calls:") for line in lines)
    assert rollup_differences(using="default") == []
    for zone in ROLLUP_ZONES:
        assert_rollup_equals_raw(rollup_agency, query_for(zone))


def test_a_second_install_changes_no_number(rollup: None, rollup_agency: uuid.UUID) -> None:
    insert_random_calls(random.Random(5), rollup_agency, 300)
    table = "SELECT * FROM analytics_heatmap.segment_buckets ORDER BY 1, 2, 3, 4"
    before = sql(table)
    report = install(using="default")
    assert report.already_installed
    assert sql(table) == before


def test_the_hosts_own_migrations_of_calls_are_not_blocked(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    """Nothing of the rollup depends on calls' columns: Supabase migrations still run."""
    sql("ALTER TABLE calls ALTER COLUMN end_reason TYPE text")
    sql("ALTER TABLE calls ALTER COLUMN status TYPE text")
    sql("ALTER TABLE calls ADD COLUMN recording_url text")
    ended_call(rollup_agency)
    assert rollup_differences(using="default") == []
    [cell] = count_rollup_by_slot(agency_id=rollup_agency, query=query_for("UTC"))
    assert cell.total_calls == 1
    sql("ALTER TABLE calls DROP COLUMN recording_url")
    sql("ALTER TABLE calls ALTER COLUMN status TYPE call_status USING status::call_status")
    sql("ALTER TABLE calls ALTER COLUMN status SET DEFAULT 'queued'")
    sql(
        "ALTER TABLE calls ALTER COLUMN end_reason TYPE call_end_reason "
        "USING end_reason::call_end_reason"
    )


def test_a_truncate_during_the_backfill_fails_the_install_cleanly(
    rollup_agency: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counted snapshot would outlive the truncate: the install says so and undoes."""
    ended_call(rollup_agency)
    real_backfill = rollup_install.backfill

    def backfill_then_truncate(*args: Any, **kwargs: Any) -> Any:
        counted = real_backfill(*args, **kwargs)
        sql("TRUNCATE calls")
        return counted

    monkeypatch.setattr(rollup_install, "backfill", backfill_then_truncate)
    with pytest.raises(RollupError, match="truncated while the rollup was being built"):
        install(using="default")
    assert sql("SELECT to_regnamespace('analytics_heatmap')") == [(None,)]


# --- a newer time-zone map ---------------------------------------------------------------


def group_of(phone_number: str) -> int:
    """The zone group the shipped map gives ``phone_number`` (its id in the app's tables)."""
    zone_map = shipped_map()
    digits = e164_digits(phone_number)
    assert digits is not None
    return zone_map.groups.index(zone_map.zones_for(digits)) + 1


def ship_a_newer_map() -> None:
    """What a release with a regenerated map does to the app's tables, in miniature: New
    York's numbers now in London's zones, under a new version."""
    sql(
        "UPDATE analytics_lead_prefix_range SET group_id = %s WHERE group_id = %s",
        [group_of("+447911123456"), group_of("+12125550100")],
    )
    sql("UPDATE analytics_lead_zone_map SET version = 'newer'")
    rollup_state.forget()


def test_a_newer_map_is_remapped_online_while_writers_write(
    rollup: None, rollup_agency: uuid.UUID
) -> None:
    rng = random.Random(23)
    today = utc_today()
    calls = [random_call(rng, [rollup_agency], today) for _ in range(2000)]
    for call in calls[:300]:
        call.status, call.phone_number = "ended", "+12125550100"
    insert_calls(calls)
    before = lead_from_rollup(rollup_agency, lead_query("UTC"))
    ship_a_newer_map()
    assert not reads_rollup(lead_query("UTC"))  # counted by the older map: the scan answers
    assert reads_rollup(query_for("UTC"))  # the viewer's clock still reads the rollup
    lines: list[str] = []
    with Writers(rollup_agency) as writers:
        report = install(using="default", progress=lines.append)
        rollup_state.forget()
        writers.wait_for(20)  # and some after it, counted by the new map
    assert (report.remapped, report.remapped_from, report.map_version) == (True, SHIPPED, "newer")
    assert any("rebuilding it for that map" in line for line in lines)
    assert rollup_state.read_state("default").map_current
    assert rollup_differences(using="default") == []
    for zone in ROLLUP_ZONES:
        for filters in ({}, {"campaign": CAMPAIGNS[1]}):
            query = lead_query(zone, **filters)
            assert lead_from_rollup(rollup_agency, query) == lead_from_raw(rollup_agency, query)
    assert lead_from_rollup(rollup_agency, lead_query("UTC")) != before
    assert install(using="default").already_installed  # nothing more to do


def test_a_failed_remap_leaves_no_rollup_and_the_scan_answers(
    rollup: None, rollup_agency: uuid.UUID, failing_backfill: None
) -> None:
    ended_call(rollup_agency)
    ship_a_newer_map()

    with pytest.raises(RollupError, match="division by zero"):
        install(using="default")
    assert sql("SELECT to_regnamespace('analytics_heatmap')") == [(None,)]
    assert not reads_rollup(query_for("UTC"))
    assert not reads_rollup(lead_query("UTC"))
