"""How transactional tests end: a flush that leaves the content types and permissions in place.

Django's `TransactionTestCase` ends each test with `manage.py flush`, which empties every table and then emits
`post_migrate`, so that contenttypes and auth create every content type and permission again (about 0.5 s a test
here, on SQLite and PostgreSQL alike). No test creates or deletes either, so they survive the flush as they are and
the signal is not needed: the database a transactional test leaves is the one `flush` would leave.
"""

from __future__ import annotations

from django.core.management.color import no_style
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseOperations  # base first: operations imports it
from django.test import TransactionTestCase

# Written by migrations and by post_migrate only; the flush keeps them (django_migrations is never flushed).
KEPT_TABLES = frozenset({"django_content_type", "auth_permission"})

_sqlite_sql_flush = DatabaseOperations.sql_flush
_django_fixture_teardown = TransactionTestCase._fixture_teardown


def _sql_flush_past_the_audit_guard(self, style, tables, **kwargs):
    """On SQLite the flush deletes row by row, which the audit log's DELETE trigger would refuse. Lift the guard
    for the flush only, recreating it from its own stored definition."""
    statements = _sqlite_sql_flush(self, style, tables, **kwargs)
    if "portal_auditlog" not in tables:
        return statements
    with self.connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'portal_auditlog_no_delete'")
        row = cursor.fetchone()
    if row is None:
        return statements
    return ["DROP TRIGGER portal_auditlog_no_delete", *statements, row[0]]


def flush_keeping_content_types(connection) -> None:
    tables = [t for t in connection.introspection.django_table_names(only_existing=True, include_views=False)
              if t not in KEPT_TABLES]
    statements = connection.ops.sql_flush(no_style(), tables, reset_sequences=False, allow_cascade=False)
    connection.ops.execute_sql_flush(statements)


def _fixture_teardown(self):
    if self.available_apps is not None or self.serialized_rollback:
        return _django_fixture_teardown(self)  # Django's own rules for those (neither is used here)
    for alias in self._databases_names(include_mirrors=False):
        flush_keeping_content_types(connections[alias])


def install() -> None:
    DatabaseOperations.sql_flush = _sql_flush_past_the_audit_guard
    TransactionTestCase._fixture_teardown = _fixture_teardown
