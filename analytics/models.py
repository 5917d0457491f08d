"""Unmanaged models over the tables the Supabase application owns.

Django never creates, migrates or writes these tables in production; the
reference DDL in ``analytics/sql/reference_schema.sql`` documents their shape, and
:func:`create_reference_tables` creates them for tests and demos, never for production
(on PostgreSQL from that DDL, so enum columns and the ``(agency_id, created_at)`` index
look as they do in a Supabase schema; elsewhere from the models).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Self
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Q

from analytics.db import IsJSONTrue

ENDED = "ended"
UNJOINED = "unjoined"

#: The callee picked up: ``joined_at`` is set and the call did not end as
#: ``unjoined``. A NULL ``end_reason`` with ``joined_at`` set IS connected.
CONNECTED = Q(joined_at__isnull=False) & ~Q(end_reason=UNJOINED)

#: ``analysis -> sdr -> meeting_booked`` is the JSON literal ``true``; the string
#: ``"true"``, ``1``, ``false``, a missing key and a NULL ``analysis`` are not.
MEETING_BOOKED = IsJSONTrue("analysis", "sdr", "meeting_booked")


class User(models.Model):
    """A Supabase auth user (``id`` is the JWT ``sub``) and the agency it belongs to."""

    id = models.UUIDField(primary_key=True)
    agency_id = models.UUIDField(null=True, blank=True)
    # Read by the admin's users list only, as the reference schema has them.
    email = models.TextField(null=True, blank=True)  # noqa: DJ001
    full_name = models.TextField(null=True, blank=True)  # noqa: DJ001

    class Meta:
        managed = False
        db_table = "users"

    def __str__(self) -> str:
        return str(self.id)


class CallQuerySet(models.QuerySet["Call"]):
    def for_agency(self, agency_id: UUID) -> Self:
        return self.filter(agency_id=agency_id)

    def ended(self) -> Self:
        return self.filter(status=ENDED)

    def created_between(self, start: datetime, end: datetime) -> Self:
        """Calls created in the half-open interval ``[start, end)``."""
        return self.filter(created_at__gte=start, created_at__lt=end)

    def for_campaign(self, campaign_id: UUID | None) -> Self:
        """Narrow to one campaign; ``None`` means every campaign."""
        return self if campaign_id is None else self.filter(campaign_id=campaign_id)

    def for_client(self, client_id: UUID | None) -> Self:
        """Narrow to one client; ``None`` means every client."""
        return self if client_id is None else self.filter(client_id=client_id)


class Call(models.Model):
    id = models.UUIDField(primary_key=True)
    agency_id = models.UUIDField()
    campaign_id = models.UUIDField(null=True, blank=True)
    client_id = models.UUIDField(null=True, blank=True)
    # A PostgreSQL enum in many Supabase schemas; text works the same for reads.
    status = models.TextField()
    created_at = models.DateTimeField()
    joined_at = models.DateTimeField(null=True, blank=True)
    # NULL is a real value here (the call had no end reason), as in the Supabase schema.
    end_reason = models.TextField(null=True, blank=True)  # noqa: DJ001
    analysis = models.JSONField(null=True, blank=True)
    # The number called, as the application wrote it; read for the lead's clock.
    phone_number = models.TextField(null=True, blank=True)  # noqa: DJ001

    objects = CallQuerySet.as_manager()

    class Meta:
        managed = False
        db_table = "calls"
        indexes = [
            models.Index(fields=["agency_id", "created_at"], name="idx_calls_agency_created")
        ]

    def __str__(self) -> str:
        return str(self.id)


class RollupBucket(models.Model):
    """Counts of one 15-minute UTC bucket, in the rollup ``heatmap_rollup install`` creates.

    Read only, on PostgreSQL only: the rollup's triggers write it, never Django. Each
    model reads a view of the folded counts and the deltas not yet folded, so one bucket
    may come in several rows, which the heatmap sums. The views live in the app's own
    schema (``analytics_heatmap``), so ``db_table`` is quoted whole, the way Django
    passes a quoted name through as it is.
    """

    bucket = models.DateTimeField()
    total_calls = models.IntegerField()
    connected_calls = models.IntegerField()
    meetings_booked = models.IntegerField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} UTC: {self.total_calls} calls"


class AgencyBucket(RollupBucket):
    """The unfiltered answer's grain: one row per agency and active bucket."""

    # The table's key is (agency_id, bucket); Django only needs some column to call pk.
    agency_id = models.UUIDField(primary_key=True)

    class Meta:
        managed = False
        db_table = '"analytics_heatmap"."agency_counts"'


class SegmentBucket(RollupBucket):
    """The filtered answers' grain: one row per agency, campaign, client and active bucket."""

    agency_id = models.UUIDField(primary_key=True)
    campaign_id = models.UUIDField(null=True)
    client_id = models.UUIDField(null=True)

    class Meta:
        managed = False
        db_table = '"analytics_heatmap"."segment_counts"'


class LeadAgencyBucket(RollupBucket):
    """The lead's clock, unfiltered: one row per agency, active bucket and zone group of the
    number called."""

    agency_id = models.UUIDField(primary_key=True)
    #: ``LeadZoneGroup.id`` of the number called; 0 when the map cannot place it.
    lead_group = models.SmallIntegerField()

    class Meta:
        managed = False
        db_table = '"analytics_heatmap"."lead_agency_counts"'


class LeadSegmentBucket(RollupBucket):
    """The lead's clock, filtered: one row per agency, campaign, client, active bucket and
    zone group of the number called."""

    agency_id = models.UUIDField(primary_key=True)
    campaign_id = models.UUIDField(null=True)
    client_id = models.UUIDField(null=True)
    #: ``LeadZoneGroup.id`` of the number called; 0 when the map cannot place it.
    lead_group = models.SmallIntegerField()

    class Meta:
        managed = False
        db_table = '"analytics_heatmap"."lead_segment_counts"'


class LeadZoneMap(models.Model):
    """Which release of libphonenumber's time-zone map the two tables below hold (one row).

    The app's own tables, loaded by its migrations from ``analytics/data/lead_zones.json``;
    on PostgreSQL closed to every role but the app's (``analytics.heatmap.lead_map``).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    #: The ``phonenumbers`` release the map was generated from.
    version = models.CharField(max_length=32)
    loaded_at = models.DateTimeField()

    class Meta:
        db_table = "analytics_lead_zone_map"

    def __str__(self) -> str:
        return f"phonenumbers {self.version}"


class LeadZoneGroup(models.Model):
    """One entry of the map: the zones a number may be in, space-separated as the map lists them."""

    id = models.PositiveSmallIntegerField(primary_key=True)
    zones = models.TextField()

    class Meta:
        db_table = "analytics_lead_zone_group"

    def __str__(self) -> str:
        return self.zones


class LeadPrefixRange(models.Model):
    """A run of lookup keys (``analytics.heatmap.lead_clock.lookup_key``) with one longest
    prefix in the map: it starts at ``key`` and ends where the next range starts.

    ``group_id`` 0 is no prefix: those numbers are not placed.
    """

    key = models.BigIntegerField(primary_key=True)
    group_id = models.PositiveSmallIntegerField()
    #: The map's prefix, for whoever reads the table; ``None`` where there is none.
    prefix = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001

    class Meta:
        db_table = "analytics_lead_prefix_range"

    def __str__(self) -> str:
        return f"{self.key}: {self.prefix or 'no prefix'}"


REFERENCE_DDL = Path(__file__).parent / "sql" / "reference_schema.sql"
REFERENCE_MODELS = (User, Call)


def reference_tables_exist(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    existing = set(connections[using].introspection.table_names())
    return all(model._meta.db_table in existing for model in REFERENCE_MODELS)


def create_reference_tables(*, using: str = DEFAULT_DB_ALIAS) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(REFERENCE_DDL.read_text())
        return
    with connection.schema_editor() as editor:
        for model in REFERENCE_MODELS:
            editor.create_model(model)
            # create_model() skips an unmanaged model's indexes; the index matters.
            for index in model._meta.indexes:
                editor.add_index(model, index)
