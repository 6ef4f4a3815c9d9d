"""API tokens are stored only as hashes (issue 20): a copy of the database lets nobody call the API. Each token
keeps a short prefix in clear, shown for identification (the audit log of its issue), as django-rest-knox does."""

from __future__ import annotations

from django.db import connection
from django.urls import reverse

from core.models import AuditLog
from tests.world import PASSWORD


def _obtain(api, username="acme-ro"):
    response = api.post(reverse("api:auth-token"), {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _every_text_in_the_database() -> str:
    """Every text value of every table: what a stolen backup holds."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            # Names from introspection, not from input.
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks += [str(value) for row in cursor.fetchall() for value in row if value is not None]
    return "\n".join(chunks)


def test_the_database_holds_no_usable_token(world, api):
    token = _obtain(api)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get(reverse("api:me")).status_code == 200
    api.credentials()
    stored = _every_text_in_the_database()
    assert token not in stored
    assert token[8:] not in stored  # not even most of it
    # The prefix that identifies it is recorded where administrators and auditors look: the audit row of its issue.
    issued = AuditLog.objects.filter(action="auth.token", actor=world.a.user_ro).latest("id")
    assert issued.detail["prefix"] and token.startswith(issued.detail["prefix"])
    assert len(issued.detail["prefix"]) < len(token) // 2


def test_each_request_issues_its_own_token_and_each_works(world, api):
    first, second = _obtain(api), _obtain(api)
    assert first != second
    for token in (first, second):
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert api.get(reverse("api:me")).json()["username"] == "acme-ro"
    api.credentials(HTTP_AUTHORIZATION=f"Token {first[:-1]}x")
    assert api.get(reverse("api:me")).status_code == 401
