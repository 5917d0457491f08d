"""The lead's clock: the time-zone map's tables. ``analytics.heatmap.lead_map`` fills them from
analytics/data/lead_zones.json after every ``migrate`` (``post_migrate``), so a newer map
needs no migration of its own.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_rollup_buckets"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="phone_number",
            field=models.TextField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="LeadZoneMap",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
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
    ]
