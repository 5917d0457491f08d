"""The app's models. The unmanaged ``Call`` and ``User`` (Supabase's tables) and the rollup's
grains (views ``heatmap_rollup install`` creates) are model state only; the tables it creates
are the lead's clock's map, which ``analytics.heatmap.lead_map`` fills from
analytics/data/lead_zones.json after every ``migrate`` (``post_migrate``), so a newer map
needs no migration of its own.

The five migrations written during the unreleased 0.2.0, squashed into one: ``replaces``
marks it applied on a database that applied all five.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [
        ("analytics", "0001_initial"),
        ("analytics", "0002_rollup_buckets"),
        ("analytics", "0003_lead_zone_map"),
        ("analytics", "0004_rollup_lead_buckets"),
        ("analytics", "0005_user_email_full_name"),
    ]

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Call",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("agency_id", models.UUIDField()),
                ("campaign_id", models.UUIDField(blank=True, null=True)),
                ("client_id", models.UUIDField(blank=True, null=True)),
                ("status", models.TextField()),
                ("created_at", models.DateTimeField()),
                ("joined_at", models.DateTimeField(blank=True, null=True)),
                ("end_reason", models.TextField(blank=True, null=True)),
                ("analysis", models.JSONField(blank=True, null=True)),
                ("phone_number", models.TextField(blank=True, null=True)),
            ],
            options={"db_table": "calls", "managed": False},
        ),
        migrations.CreateModel(
            name="User",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("agency_id", models.UUIDField(blank=True, null=True)),
                ("email", models.TextField(blank=True, null=True)),
                ("full_name", models.TextField(blank=True, null=True)),
            ],
            options={"db_table": "users", "managed": False},
        ),
        migrations.CreateModel(
            name="AgencyBucket",
            fields=[
                ("bucket", models.DateTimeField()),
                ("total_calls", models.IntegerField()),
                ("connected_calls", models.IntegerField()),
                ("meetings_booked", models.IntegerField()),
                ("agency_id", models.UUIDField(primary_key=True, serialize=False)),
            ],
            options={"db_table": '"analytics_heatmap"."agency_counts"', "managed": False},
        ),
        migrations.CreateModel(
            name="SegmentBucket",
            fields=[
                ("bucket", models.DateTimeField()),
                ("total_calls", models.IntegerField()),
                ("connected_calls", models.IntegerField()),
                ("meetings_booked", models.IntegerField()),
                ("agency_id", models.UUIDField(primary_key=True, serialize=False)),
                ("campaign_id", models.UUIDField(null=True)),
                ("client_id", models.UUIDField(null=True)),
            ],
            options={"db_table": '"analytics_heatmap"."segment_counts"', "managed": False},
        ),
        migrations.CreateModel(
            name="LeadZoneMap",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("version", models.CharField(max_length=32)),
                ("loaded_at", models.DateTimeField()),
            ],
            options={"db_table": "analytics_lead_zone_map"},
        ),
        migrations.CreateModel(
            name="LeadZoneGroup",
            fields=[
                ("id", models.PositiveSmallIntegerField(primary_key=True, serialize=False)),
                ("zones", models.TextField()),
            ],
            options={"db_table": "analytics_lead_zone_group"},
        ),
        migrations.CreateModel(
            name="LeadPrefixRange",
            fields=[
                ("key", models.BigIntegerField(primary_key=True, serialize=False)),
                ("group_id", models.PositiveSmallIntegerField()),
                ("prefix", models.CharField(blank=True, max_length=16, null=True)),
            ],
            options={"db_table": "analytics_lead_prefix_range"},
        ),
        migrations.CreateModel(
            name="LeadAgencyBucket",
            fields=[
                ("bucket", models.DateTimeField()),
                ("total_calls", models.IntegerField()),
                ("connected_calls", models.IntegerField()),
                ("meetings_booked", models.IntegerField()),
                ("agency_id", models.UUIDField(primary_key=True, serialize=False)),
                ("lead_group", models.SmallIntegerField()),
            ],
            options={"db_table": '"analytics_heatmap"."lead_agency_counts"', "managed": False},
        ),
        migrations.CreateModel(
            name="LeadSegmentBucket",
            fields=[
                ("bucket", models.DateTimeField()),
                ("total_calls", models.IntegerField()),
                ("connected_calls", models.IntegerField()),
                ("meetings_booked", models.IntegerField()),
                ("agency_id", models.UUIDField(primary_key=True, serialize=False)),
                ("campaign_id", models.UUIDField(null=True)),
                ("client_id", models.UUIDField(null=True)),
                ("lead_group", models.SmallIntegerField()),
            ],
            options={"db_table": '"analytics_heatmap"."lead_segment_counts"', "managed": False},
        ),
    ]
