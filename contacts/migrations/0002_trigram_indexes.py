"""Trigram indexes for contact search on PostgreSQL.

`search` is `search_text LIKE '%term%'` and `job_title` is
`UPPER(jobtitle::text) LIKE UPPER('%term%')`; GIN trigram indexes serve both.
SQLite has no pg_trgm: there the same queries scan, which is fine at its scale.
"""

from django.db import migrations

INDEXES = [
    ("contact_search_trgm", "search_text gin_trgm_ops"),
    ("contact_jobtitle_trgm", "(UPPER(jobtitle::text)) gin_trgm_ops"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON contacts_contact USING gin ({expression})"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
