"""Database-level guarantee that audit rows are never changed or removed, whatever code runs.

Both databases refuse UPDATE and DELETE. On PostgreSQL TRUNCATE stays possible for the table's owner only
(test-database flushes use it); run the portal as a role that does not own its tables to close that too. On SQLite
the test suite's flush lifts the DELETE guard around itself (tests/conftest.py)."""

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER portal_auditlog_no_update BEFORE UPDATE ON portal_auditlog
       BEGIN SELECT RAISE(ABORT, 'portal_auditlog is append-only'); END""",
    """CREATE TRIGGER portal_auditlog_no_delete BEFORE DELETE ON portal_auditlog
       BEGIN SELECT RAISE(ABORT, 'portal_auditlog is append-only'); END""",
]
SQLITE_REVERSE = ["DROP TRIGGER portal_auditlog_no_update", "DROP TRIGGER portal_auditlog_no_delete"]
POSTGRES = [
    """CREATE FUNCTION portal_auditlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'portal_auditlog is append-only'; END $$""",
    """CREATE TRIGGER portal_auditlog_append_only BEFORE UPDATE OR DELETE ON portal_auditlog
       FOR EACH ROW EXECUTE FUNCTION portal_auditlog_append_only()""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER portal_auditlog_append_only ON portal_auditlog",
    "DROP FUNCTION portal_auditlog_append_only()",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}),
        )
    ]
