"""E-mail notifications: each user opts in per event, and hears only of jobs they may see."""

from __future__ import annotations

import pytest
from django.core import mail

from lifecycle.backups.choices import BackupState
from lifecycle.backups.models import BackupTask
from migrations_app.choices import MigrationState
from tests.jobs_engine.drive import job_transition, migration_transition


@pytest.fixture
def mailbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    return mail.outbox


def _with_email(*users):
    for user in users:
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])


def _set(api, user, events):
    response = api.as_user(user).put("/api/v1/me/notifications/", {"events": events})
    assert response.status_code == 200, response.content
    return response.json()["events"]


def test_only_opted_in_users_who_see_the_job_get_mail(world, api, mailbox, django_capture_on_commit_callbacks):
    a = world.a
    _with_email(a.admin, a.auditor, a.user_general, a.user_nogrant, a.user_ro, world.b.admin)
    for user in (a.admin, a.user_general, a.user_nogrant, world.b.admin):
        _set(api, user, ["migration.failed"])
    _set(api, a.user_ro, ["migration.completed"])  # sees the migration, but asked for another event
    # a.auditor asked for nothing

    with django_capture_on_commit_callbacks(execute=True):
        migration_transition(task_id=a.migration.pk, to=MigrationState.FAILED, status_message="Disk unreadable.")

    recipients = sorted(address for message in mailbox for address in message.to)
    # user_nogrant opted in but has no grant on the migration's environment; tenant B never hears of tenant A.
    assert recipients == sorted([a.admin.email, a.user_general.email])
    assert all(len(message.to) == 1 for message in mailbox)
    assert "Migration failed" in mailbox[0].subject
    assert "Disk unreadable." in mailbox[0].body


def test_backup_completion_mails_and_a_later_retention_move_does_not(world, api, mailbox,
                                                                     django_capture_on_commit_callbacks):
    a = world.a
    _with_email(a.user_general)
    _set(api, a.user_general, ["backup.completed"])
    backup = BackupTask.objects.create(
        tenant=a.tenant, environment=a.environment, instance=a.instance, created_by=a.user_general,
        state=BackupState.CREATING, client_token="backup-mail", image_name="portal-backup-mail")
    with django_capture_on_commit_callbacks(execute=True):
        job_transition(BackupTask, task_id=backup.pk, to=BackupState.AVAILABLE)
    assert [m.to for m in mailbox] == [[a.user_general.email]]
    with django_capture_on_commit_callbacks(execute=True):
        job_transition(BackupTask, task_id=backup.pk, to=BackupState.DELETING)
        job_transition(BackupTask, task_id=backup.pk, to=BackupState.AVAILABLE)
    assert len(mailbox) == 1


def test_preferences_are_per_user_and_validated(world, api):
    a = world.a
    assert api.as_user(a.user_ro).get("/api/v1/me/notifications/").json() == {"events": []}
    assert _set(api, a.user_ro, ["export.failed", "migration.completed", "export.failed"]) == [
        "export.failed", "migration.completed"]
    assert _set(api, a.auditor, ["backup.failed"]) == ["backup.failed"]
    assert api.as_user(a.user_ro).get("/api/v1/me/notifications/").json() == {
        "events": ["export.failed", "migration.completed"]}
    assert api.as_user(a.admin).get("/api/v1/me/notifications/").json() == {"events": []}
    bad = api.as_user(a.user_ro).put("/api/v1/me/notifications/", {"events": ["migration.exploded"]})
    assert bad.status_code == 400
    assert api.as_user(None).get("/api/v1/me/notifications/").status_code == 401
    assert _set(api, a.user_ro, []) == []
