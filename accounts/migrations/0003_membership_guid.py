"""Membership.guid (the user's id on the Salesloft facade): added nullable, filled
one row at a time with its own uuid4, then made unique and required."""

import uuid

from django.db import migrations, models


def fill_guids(apps, schema_editor):
    Membership = apps.get_model("accounts", "Membership")
    for membership in Membership.objects.filter(guid__isnull=True).only("pk"):
        Membership.objects.filter(pk=membership.pk).update(guid=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_idempotencykey")]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="guid",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(fill_guids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="membership",
            name="guid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
