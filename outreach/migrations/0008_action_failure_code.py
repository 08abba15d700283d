"""Action.failure_code: why a failed action failed, for code to read.

Actions that failed before the field existed get the code their error text
obviously gives (the texts the engine and its executors wrote); anything else is
`other`. Actions that have not failed stay blank.
"""

from django.db import migrations, models

# (test, code), first match wins: the engine's own texts, then the executors'.
DERIVED = [
    (lambda text: text.startswith("Gave up after "), "gave_up"),
    (lambda text: text.startswith("suppressed:"), "suppressed"),
    (lambda text: text.startswith("Recipient ") and " is suppressed (" in text, "suppressed"),
    (lambda text: text.startswith("Recipient refused by the mail server"), "invalid_recipient"),
    (lambda text: " refused every recipient" in text, "invalid_recipient"),
    (lambda text: " is not configured (set " in text, "not_configured"),
]


def derive_failure_code(error_message: str) -> str:
    text = error_message or ""
    for matches, code in DERIVED:
        if matches(text):
            return code
    return "other"


def derive(apps, schema_editor) -> None:
    Action = apps.get_model("outreach", "Action")
    failed = Action.objects.filter(status="failed", failure_code="")
    batch = []
    for action in failed.only("id", "error_message").iterator(chunk_size=1000):
        action.failure_code = derive_failure_code(action.error_message)
        batch.append(action)
        if len(batch) >= 1000:
            Action.objects.bulk_update(batch, ["failure_code"])
            batch = []
    if batch:
        Action.objects.bulk_update(batch, ["failure_code"])


class Migration(migrations.Migration):
    dependencies = [
        ("outreach", "0007_facade_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="action",
            name="failure_code",
            field=models.CharField(
                blank=True,
                choices=[
                    ("suppressed", "Contact suppressed"),
                    ("invalid_recipient", "Invalid recipient"),
                    ("invalid_action", "Cannot be sent as it is"),
                    ("provider_rejected", "Rejected by the provider"),
                    ("not_configured", "Provider not configured"),
                    ("gave_up", "Gave up after retries"),
                    ("other", "Other"),
                ],
                max_length=32,
            ),
        ),
        # Backwards the column goes, so there is nothing to undo.
        migrations.RunPython(derive, migrations.RunPython.noop),
    ]
