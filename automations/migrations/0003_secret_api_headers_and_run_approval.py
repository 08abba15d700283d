"""apiHeaders become a secret (encrypted at rest, masked on read), and a run
remembers whether the outreach it creates must wait for approval.

The existing plaintext headers are encrypted *before* the field becomes an
EncryptedTextField, while the historical model still reads and writes the column
as plain text; backwards, the field turns plain first, then the rows are decrypted.
"""

from django.db import migrations, models

import config.crypto


def encrypt_headers(apps, schema_editor):
    ActionDefinition = apps.get_model("automations", "ActionDefinition")
    rows = ActionDefinition.objects.using(schema_editor.connection.alias).exclude(api_headers="")
    for pk, headers in rows.values_list("pk", "api_headers").iterator():
        ActionDefinition.objects.using(schema_editor.connection.alias).filter(pk=pk).update(
            api_headers=config.crypto.encrypt(headers)
        )


def decrypt_headers(apps, schema_editor):
    ActionDefinition = apps.get_model("automations", "ActionDefinition")
    rows = ActionDefinition.objects.using(schema_editor.connection.alias).exclude(api_headers="")
    for pk, headers in rows.values_list("pk", "api_headers").iterator():
        ActionDefinition.objects.using(schema_editor.connection.alias).filter(pk=pk).update(
            api_headers=config.crypto.decrypt(headers)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("automations", "0002_hook_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="hookrun",
            name="requires_approval",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(encrypt_headers, decrypt_headers),
        migrations.AlterField(
            model_name="actiondefinition",
            name="api_headers",
            field=config.crypto.EncryptedTextField(blank=True, help_text="JSON object."),
        ),
    ]
