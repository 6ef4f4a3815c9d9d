"""`manage.py backups` acts as a named user through the same services."""

import pytest
from django.core.management import CommandError, call_command

from lifecycle.backups.models import BackupSchedule, BackupTask
from lifecycle.launches.models import LaunchTask
from tests.lifecycle.conftest import run_queue

pytestmark = pytest.mark.aws


def _run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("backups", *args, stdout=out)
    return out.getvalue()


def test_back_up_schedule_make_template_and_launch_from_the_shell(s):
    general, owner = s.a.user_general.username, s.a.user_owner.username
    assert "queued" in _run("start", "--user", general, "--instance", str(s.instance.pk), "--reboot")
    run_queue()
    backup = BackupTask.objects.get(instance=s.instance)
    assert backup.reboot and backup.state == "available"
    assert f"backup {backup.pk} of {s.instance.instance_id}: available" in _run("list", "--user", general)
    assert "queued" in _run("start", "--user", general, "--instance", str(s.instance.pk))
    with pytest.raises(CommandError, match="is still running"):
        _run("start", "--user", general, "--instance", str(s.instance.pk))
    out = _run("schedule-add", "--user", general, "--instance", str(s.instance.pk), "--cron", "0 4 * * *",
               "--keep", "3")
    schedule = BackupSchedule.objects.get(instance=s.instance)
    assert f"schedule {schedule.pk}" in out and "0 4 * * *" in _run("schedules", "--user", general)
    with pytest.raises(CommandError, match="cron"):
        _run("schedule-add", "--user", general, "--instance", str(s.instance.pk), "--cron", "nope")
    _run("schedule-remove", "--user", general, str(schedule.pk))
    assert not BackupSchedule.objects.filter(pk=schedule.pk).exists()
    with pytest.raises(CommandError, match=f"No backup {backup.pk}"):
        _run("make-template", "--user", general, str(backup.pk), "--name", "x", "--instance-type", "t3.micro",
             "--subnet", str(s.subnet.pk), "--security-group", str(s.security_group.pk))
    made = _run("make-template", "--user", owner, str(backup.pk), "--name", "from-shell", "--instance-type",
                "t3.micro", "--subnet", str(s.subnet.pk), "--security-group", str(s.security_group.pk))
    template_id = made.split()[1]
    assert backup.image_id in made
    assert "queued" in _run("launch", "--user", general, "--template", template_id, "--idempotency-key", "k1")
    assert "the earlier launch" in _run("launch", "--user", general, "--template", template_id,
                                        "--idempotency-key", "k1")
    run_queue()
    task = LaunchTask.objects.get(idempotency_key="k1")
    assert task.state == "completed" and task.instance_id in _run("launches", "--user", general)


def test_unknown_user_and_invisible_rows(s):
    with pytest.raises(CommandError, match="No active tenant user"):
        _run("list", "--user", "nobody")
    with pytest.raises(CommandError, match="No instance"):
        _run("start", "--user", s.a.user_ro.username, "--instance", str(s.instance.pk))
