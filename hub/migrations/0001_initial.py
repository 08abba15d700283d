# The leader lock that outreach's migration 0004 created, now hub's model: state
# only, on the same table (outreach 0010 drops it from outreach's state).
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("outreach", "0010_schedulerlock_moves_to_hub")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SchedulerLock",
                    fields=[
                        (
                            "name",
                            models.CharField(max_length=64, primary_key=True, serialize=False),
                        ),
                        ("holder", models.CharField(max_length=200)),
                        ("expires_at", models.DateTimeField()),
                    ],
                    options={"db_table": "outreach_schedulerlock"},
                )
            ],
            database_operations=[],
        )
    ]
