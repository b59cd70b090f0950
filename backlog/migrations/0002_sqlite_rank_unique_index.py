"""SQLite cannot defer a unique constraint, so Django skips `pbi_unique_rank` there. Keep ranks unique
on SQLite with a plain unique index (the renumbering on SQLite moves ranks out of the way first)."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS pbi_unique_rank_sqlite "
            "ON backlog_productbacklogitem (backlog_id, rank)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP INDEX IF EXISTS pbi_unique_rank_sqlite")


class Migration(migrations.Migration):
    dependencies = [("backlog", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
