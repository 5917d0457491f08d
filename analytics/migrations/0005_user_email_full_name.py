# The users table's email and full name, as the reference schema has them: the model only
# (the table is unmanaged), read by the admin's users list.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0004_rollup_lead_buckets"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email",
            field=models.TextField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="full_name",
            field=models.TextField(blank=True, null=True),
        ),
    ]
