# Beat's leader lock moves to the hub app (hub.models.SchedulerLock): a change of
# Django's state only; the table outreach_schedulerlock and its rows stay.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("outreach", "0009_attempt_queued")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SchedulerLock")],
            database_operations=[],
        )
    ]
