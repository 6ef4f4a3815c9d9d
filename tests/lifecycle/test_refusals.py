"""Who may back up, schedule, cancel, make templates and launch, beyond the permission matrix: users without the
general role are refused, auditors only read, and other tenants see nothing."""

import pytest
from django.urls import reverse

from lifecycle.backups import services as backup_services
from lifecycle.backups.models import BackupTask
from lifecycle.launches.models import LaunchTask
from core.errors import Forbidden
from core.models import AuditLog

pytestmark = pytest.mark.aws


def test_read_only_and_auditors_read_but_do_not_act(s, api):
    backup = backup_services.backup_start(actor=s.a.user_general, instance=s.instance)
    backup.refresh_from_db()
    admitted = backup.state  # admission started it; refused requests change nothing after that
    for user in (s.a.user_ro, s.a.auditor):
        client = api.as_user(user)
        rows = client.get(reverse("api:backup-list"), {"instance": s.instance.pk}).json()["results"]
        assert [r["id"] for r in rows] == [backup.pk]
        assert client.get(reverse("api:backup-detail", kwargs={"pk": backup.pk})).status_code == 200
    ro, auditor = api.as_user(s.a.user_ro), None
    assert ro.post(reverse("api:backup-list"), {"instance": s.instance.pk}, format="json").status_code == 400
    assert ro.post(reverse("api:backup-cancel", kwargs={"pk": backup.pk})).status_code == 404
    auditor = api.as_user(s.a.auditor)
    assert auditor.post(reverse("api:backup-list"), {"instance": s.instance.pk}, format="json").status_code == 403
    assert auditor.post(reverse("api:backup-cancel", kwargs={"pk": backup.pk})).status_code == 403
    assert auditor.post(reverse("api:backup-schedule-list"), {"instance": s.instance.pk, "cron": "0 2 * * *"},
                        format="json").status_code == 403
    backup.refresh_from_db()
    assert admitted == "creating" and backup.state == admitted


def test_users_without_a_grant_see_nothing(s, api):
    backup = backup_services.backup_start(actor=s.a.user_general, instance=s.instance)
    client = api.as_user(s.a.user_nogrant)
    assert client.get(reverse("api:backup-list")).json()["results"] == []
    assert client.get(reverse("api:backup-detail", kwargs={"pk": backup.pk})).status_code == 404
    assert client.post(reverse("api:backup-list"), {"instance": s.instance.pk}, format="json").status_code == 400
    other_admin = api.as_user(s.world.b.admin)
    assert other_admin.get(reverse("api:backup-detail", kwargs={"pk": backup.pk})).status_code == 404
    assert backup.pk not in [r["id"] for r in other_admin.get(reverse("api:backup-list")).json()["results"]]


def test_services_refuse_a_user_whose_grant_is_gone(s):
    from environments import services as env_services

    env_services.environment_revoke(actor=s.a.admin, environment=s.environment, principal=s.a.user_general)
    with pytest.raises(Forbidden):
        backup_services.backup_start(actor=s.a.user_general, instance=s.instance)
    assert AuditLog.objects.filter(action="backup.create", outcome="denied", actor=s.a.user_general).exists()
    assert not BackupTask.objects.filter(instance=s.instance).exists()


def test_a_schedule_whose_creator_lost_the_role_does_not_back_up(s, clock):
    from django_q.scheduler import scheduler

    from environments import services as env_services
    from tests.lifecycle.conftest import run_queue

    schedule = backup_services.backup_schedule_create(actor=s.a.user_general, instance=s.instance,
                                                      data={"cron": "0 * * * *", "keep_last": 2})
    env_services.environment_revoke(actor=s.a.admin, environment=s.environment, principal=s.a.user_general)
    clock.advance(hours=1)
    scheduler()
    run_queue()
    assert not BackupTask.objects.filter(schedule=schedule).exists()
    skipped = AuditLog.objects.get(action="backup_schedule.skipped", object_id=str(schedule.pk))
    assert skipped.outcome == "denied"


def test_launch_needs_the_general_role(s, api):
    template = s.a.template  # the world's template lives in "prod", where user_ro reads and user_general operates
    assert api.as_user(s.a.user_ro).post(reverse("api:template-launch", kwargs={"pk": template.pk})).status_code == 404
    assert api.as_user(s.a.auditor).post(reverse("api:template-launch", kwargs={"pk": template.pk})).status_code \
        == 403
    assert not LaunchTask.objects.filter(template=template).exclude(pk=s.a.launch.pk).exists()
