"""Backup schedules on django-q2 with a fake clock: cron validated, missed runs run once, a run never starts a
second backup of a busy instance, and retention keeps only the last N images and their snapshots."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.scheduler import scheduler

from environments.models import Template
from lifecycle.backups import services as backup_services
from lifecycle.backups.models import BackupSchedule, BackupTask
from lifecycle.backups.schedules import FIRE_FUNC, schedule_fire
from core.models import AuditLog
from tests.lifecycle.conftest import queued_functions, run_queue

pytestmark = pytest.mark.aws

HOURLY = "0 * * * *"


def _schedule(s, cron=HOURLY, keep_last=2, **extra):
    # The world's own backup schedules (daily ones) fall due too when a test moves the clock past their hour, which
    # depends on the time of day the suite runs: pause them, so only the schedule under test fires.
    Schedule.objects.filter(func=FIRE_FUNC).update(repeats=0)
    return backup_services.backup_schedule_create(actor=s.a.user_general, instance=s.instance,
                                                  data={"cron": cron, "keep_last": keep_last, **extra})


def _images_of(s, schedule) -> list[str]:
    images = s.ec2.describe_images(Owners=["self"], Filters=[
        {"Name": "tag:portal-backup-schedule", "Values": [str(schedule.pk)]}])["Images"]
    return sorted(i["ImageId"] for i in images)


@pytest.mark.parametrize("cron", ["61 * * * *", "0 2 * *", "0 2 * * * *", "every day", "", "0 0 31 2 *"])
def test_cron_is_validated(s, api, cron):
    response = api.as_user(s.a.user_general).post(reverse("api:backup-schedule-list"), {
        "instance": s.instance.pk, "cron": cron, "keep_last": 3}, format="json")
    assert response.status_code == 400, response.content
    assert {e["attr"] for e in response.json()["errors"]} == {"cron"}
    assert not BackupSchedule.objects.filter(instance=s.instance).exists()


def test_a_schedule_is_a_django_q2_cron_schedule_that_starts_in_the_future(s, api, clock):
    response = api.as_user(s.a.user_general).post(reverse("api:backup-schedule-list"), {
        "instance": s.instance.pk, "cron": "15 3 * * 1", "keep_last": 4, "reboot": True}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    q = BackupSchedule.objects.get(pk=body["id"]).q_schedule
    assert (q.schedule_type, q.cron, q.func, q.repeats) == (Schedule.CRON, "15 3 * * 1", FIRE_FUNC, -1)
    assert q.next_run > clock.now() and (q.next_run.weekday(), q.next_run.hour, q.next_run.minute) == (0, 3, 15)
    scheduler()
    assert FIRE_FUNC not in queued_functions()  # not due: creating a schedule never fires it at once
    patched = api.as_user(s.a.user_general).patch(reverse("api:backup-schedule-detail", kwargs={"pk": body["id"]}),
                                                  {"enabled": False}, format="json")
    assert patched.status_code == 200 and Schedule.objects.get(pk=q.pk).repeats == 0
    deleted = api.as_user(s.a.user_general).delete(reverse("api:backup-schedule-detail", kwargs={"pk": body["id"]}))
    assert deleted.status_code == 204 and not Schedule.objects.filter(pk=q.pk).exists()


def test_missed_runs_after_downtime_run_once(s, clock):
    assert settings.Q_CLUSTER["catch_up"] is False and Conf.CATCH_UP is False
    schedule = _schedule(s)
    # The cluster was down for five hours: five hourly runs were missed.
    clock.advance(hours=5)
    scheduler()
    scheduler()
    assert queued_functions().count(FIRE_FUNC) == 1
    q = Schedule.objects.get(pk=schedule.q_schedule_id)
    assert q.next_run == clock.now().replace(minute=0) + timedelta(hours=1)  # the next one, not the missed ones
    run_queue()
    assert BackupTask.objects.filter(schedule=schedule).count() == 1
    assert BackupTask.objects.get(schedule=schedule).state == "available"


def test_a_backlog_of_runs_delivered_late_starts_one_backup(s, clock):
    """Runs that reach the queue anyway (workers busy for hours, a broker delivering twice) do nothing for a
    time already covered."""
    schedule = _schedule(s)
    start = clock.now()
    clock.advance(hours=4)
    runs = [(start + timedelta(hours=hours)).isoformat() for hours in (1, 2, 3)]
    assert [schedule_fire(schedule.pk, intended_for=run) for run in runs] == ["started", "already_ran",
                                                                             "already_ran"]
    assert schedule_fire(schedule.pk, intended_for=runs[0]) == "already_ran"  # the same run delivered again
    assert BackupTask.objects.filter(schedule=schedule).count() == 1


def test_a_run_never_starts_a_second_backup_while_one_runs(s, api, clock):
    schedule = _schedule(s)
    running = backup_services.backup_start(actor=s.a.user_owner, instance=s.instance)
    clock.advance(hours=1)
    scheduler()
    assert run_queue(only=FIRE_FUNC) == [FIRE_FUNC]  # the run finds the instance busy
    run_queue()  # the manual backup's own tick completes it
    assert list(BackupTask.objects.filter(instance=s.instance).values_list("pk", flat=True)) == [running.pk]
    skipped = AuditLog.objects.get(action="backup_schedule.skipped", object_id=str(schedule.pk))
    assert skipped.detail["reason"] == "backup_running"
    clock.advance(hours=1)
    scheduler()
    run_queue()
    assert BackupTask.objects.filter(schedule=schedule, state="available").count() == 1


def test_retention_keeps_the_last_n_images_and_their_snapshots(s, clock):
    schedule = _schedule(s, keep_last=2)
    made = []
    for _ in range(5):
        clock.advance(hours=1)
        scheduler()
        run_queue()
        made.append(BackupTask.objects.filter(schedule=schedule).order_by("-id").first())
    assert len({t.pk for t in made}) == 5
    for task in made:
        task.refresh_from_db()
    kept, deleted = made[-2:], made[:-2]
    assert [t.state for t in kept] == ["available", "available"]
    assert [t.state for t in deleted] == ["deleted"] * 3
    assert _images_of(s, schedule) == sorted(t.image_id for t in kept)
    snapshots = {snap["SnapshotId"] for snap in s.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    for task in kept:
        assert set(task.snapshot_ids) <= snapshots
    for task in deleted:
        assert task.snapshot_ids and not set(task.snapshot_ids) & snapshots
    # Lowering keep_last applies at once (when the change commits).
    backup_services.backup_schedule_update(actor=s.a.user_general, schedule=schedule, data={"keep_last": 1})
    run_queue()
    assert _images_of(s, schedule) == [made[-1].image_id]


def test_retention_keeps_images_a_template_uses(s, clock):
    schedule = _schedule(s, keep_last=1)
    clock.advance(hours=1)
    scheduler()
    run_queue()
    first = BackupTask.objects.get(schedule=schedule)
    Template.objects.create(tenant=s.a.tenant, environment=s.environment, name="pinned", ami_id=first.image_id,
                            instance_type="t3.micro", subnet=s.subnet, security_group=s.security_group)
    for _ in range(2):
        clock.advance(hours=1)
        scheduler()
        run_queue()
    tasks = list(BackupTask.objects.filter(schedule=schedule).order_by("id"))
    assert [t.state for t in tasks] == ["available", "deleted", "available"]
    assert _images_of(s, schedule) == sorted([tasks[0].image_id, tasks[2].image_id])


def test_retention_keeps_images_a_template_of_another_environment_uses(s, clock):
    """Issue 20: an image is the tenant's, not the environment's; a template anywhere in the tenant keeps it."""
    schedule = _schedule(s, keep_last=1)
    clock.advance(hours=1)
    scheduler()
    run_queue()
    first = BackupTask.objects.get(schedule=schedule)
    other = s.a.environment
    assert other.pk != s.environment.pk and other.tenant_id == s.a.tenant.pk
    Template.objects.create(tenant=s.a.tenant, environment=other, name="elsewhere", ami_id=first.image_id,
                            instance_type="t3.micro", subnet=s.a.subnet, security_group=s.a.security_group)
    for _ in range(2):
        clock.advance(hours=1)
        scheduler()
        run_queue()
    tasks = list(BackupTask.objects.filter(schedule=schedule).order_by("id"))
    assert [t.state for t in tasks] == ["available", "deleted", "available"]
    assert first.image_id in _images_of(s, schedule)


def test_a_refused_deletion_keeps_the_image_and_is_retried_an_hour_later(s, clock, monkeypatch):
    from lifecycle.backups.retention import retention_apply
    from adapters.aws import client as aws

    real_delete = aws.image_delete

    def refuse(*args, **kwargs):
        raise aws.AwsError("UnauthorizedOperation", "You are not authorized to perform this operation.")

    monkeypatch.setattr(aws, "image_delete", refuse)
    schedule = _schedule(s, keep_last=1)
    for _ in range(2):
        clock.advance(hours=1)
        scheduler()
        run_queue()  # the second backup's retention asks to delete the first, which AWS refuses
    oldest = BackupTask.objects.filter(schedule=schedule).order_by("id").first()
    assert (oldest.state, oldest.error_code) == ("available", "delete_refused")
    assert "not authorized" in oldest.status_message
    assert retention_apply(schedule_id=schedule.pk) == []  # not again at once
    monkeypatch.setattr(aws, "image_delete", real_delete)
    clock.advance(hours=1, minutes=1)
    assert retention_apply(schedule_id=schedule.pk) == [oldest.pk]
    run_queue()
    oldest.refresh_from_db()
    assert oldest.state == "deleted" and _images_of(s, schedule) == [
        BackupTask.objects.filter(schedule=schedule).order_by("id").last().image_id]
