"""The audit log: a row for every state change and every denial, append-only down to the database."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from core.models import AppendOnlyError, AuditLog, AuditOutcome


def test_state_changes_are_recorded_with_who_what_where(world, api):
    a = world.a
    response = api.as_user(a.admin).post(reverse("api:environment-permissions", kwargs={"pk": a.environment.pk}),
                                         {"user": a.user_nogrant.pk, "role": "general"}, format="json",
                                         REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200
    row = AuditLog.objects.filter(action="environment.grant").first()
    assert row.actor == a.admin and row.actor_username == "acme-admin"
    assert row.tenant == a.tenant
    assert row.object_type == "environments.Environment" and row.object_id == str(a.environment.pk)
    assert row.detail == {"principal_type": "user", "principal_id": a.user_nogrant.pk, "principal": "acme-nogrant",
                          "role": "general"}
    assert row.remote_addr == "198.51.100.7"
    assert row.outcome == AuditOutcome.SUCCESS


def test_denials_are_recorded(world, api):
    a, b = world.a, world.b
    url = reverse("api:environment-detail", kwargs={"pk": a.environment.pk})
    assert api.as_user(b.admin).get(url).status_code == 404
    assert api.as_user(a.auditor).delete(url).status_code == 403
    denied = AuditLog.objects.filter(outcome=AuditOutcome.DENIED).order_by("id")
    assert [(r.actor_username, r.tenant_id, r.detail["status"], r.detail["method"]) for r in denied] == [
        ("globex-admin", b.tenant.pk, 404, "GET"), ("acme-auditor", a.tenant.pk, 403, "DELETE")]


def test_failed_logins_are_recorded(db, api):
    response = api.post(reverse("api:auth-token"), {"username": "mallory", "password": "guess"}, format="json")
    assert response.status_code == 400
    # Every path records failures under one action (tests/accounts covers the login page, the admin and floods).
    row = AuditLog.objects.get(action="auth.failed")
    assert row.outcome == AuditOutcome.DENIED and row.actor is None
    assert row.detail == {"username": "mallory", "path": "/api/v1/auth/token/", "reason": "invalid_credentials"}


def test_rows_cannot_be_changed_or_deleted_through_the_model(world):
    row = AuditLog.objects.first()
    row.action = "forged"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()


def test_the_database_itself_refuses_updates(world):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditLog.objects.update(action="forged")
    assert not AuditLog.objects.filter(action="forged").exists()


def test_the_database_itself_refuses_deletes(world):
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM portal_auditlog")
    assert AuditLog.objects.exists()


def test_auditors_read_but_cannot_write(world, api):
    client = api.as_user(world.a.auditor)
    rows = client.get(reverse("api:auditlog-list")).json()["results"]
    assert rows and all(r["action"] for r in rows)
    assert client.post(reverse("api:auditlog-list"), {}, format="json").status_code == 405
    detail = reverse("api:auditlog-detail", kwargs={"pk": rows[0]["id"]})
    assert client.delete(detail).status_code == 405
    assert client.patch(detail, {"action": "x"}, format="json").status_code == 405
