"""The backup, schedule, make-template and launch pages: the same services as the API, CSRF enforced, errors on
the form, 404 for rows the user may not act on."""

import pytest
from django.test import Client
from django.urls import reverse

from environments.models import Template
from lifecycle.backups import services as backup_services
from lifecycle.backups.models import BackupSchedule, BackupTask
from lifecycle.launches.models import LaunchTask
from tests.lifecycle.conftest import run_queue
from tests.world import PASSWORD

pytestmark = pytest.mark.aws


def _login(user):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=user.username, password=PASSWORD)
    client.get(reverse("ui:home"))  # sets the CSRF cookie
    return client


def _post(client, url, data=None):
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_back_up_from_the_instance_page_with_reboot(s):
    client = _login(s.a.user_general)
    page = client.get(reverse("ui:instance-backups", args=[s.instance.pk]))
    assert page.status_code == 200 and b"Back up now" in page.content
    response = _post(client, reverse("ui:instance-backup-start", args=[s.instance.pk]), {"reboot": "on"})
    assert response.status_code == 302
    task = BackupTask.objects.get(instance=s.instance)
    assert task.reboot is True and task.created_by == s.a.user_general
    busy = _post(client, reverse("ui:instance-backup-start", args=[s.instance.pk]), {})
    assert busy.status_code == 400 and b"is still running" in busy.content
    cancelled = _post(client, reverse("ui:backup-cancel", args=[task.pk]))
    assert cancelled.status_code == 302
    run_queue()  # the worker releases what the admitted backup started, then ends the cancel
    task.refresh_from_db()
    assert task.state == "cancelled"


def test_schedules_on_the_instance_page(s):
    client = _login(s.a.user_general)
    bad = _post(client, reverse("ui:instance-schedule-add", args=[s.instance.pk]), {"cron": "0 25 * * *",
                                                                                    "keep_last": 3})
    assert bad.status_code == 400 and b"not a valid cron expression" in bad.content
    good = _post(client, reverse("ui:instance-schedule-add", args=[s.instance.pk]), {"cron": "0 3 * * *",
                                                                                     "keep_last": 3})
    assert good.status_code == 302
    schedule = BackupSchedule.objects.get(instance=s.instance)
    page = client.get(reverse("ui:instance-backups", args=[s.instance.pk])).content.decode()
    assert "0 3 * * *" in page and "the last 3" in page
    assert _post(client, reverse("ui:backup-schedule-delete", args=[schedule.pk])).status_code == 302
    assert not BackupSchedule.objects.filter(pk=schedule.pk).exists()


def test_read_only_users_see_the_page_without_forms_and_cannot_post(s):
    client = _login(s.a.user_ro)
    page = client.get(reverse("ui:instance-backups", args=[s.instance.pk]))
    assert page.status_code == 200 and b"Back up now" not in page.content and b"Add a schedule" not in page.content
    assert _post(client, reverse("ui:instance-backup-start", args=[s.instance.pk])).status_code == 404
    assert _login(s.a.user_nogrant).get(reverse("ui:instance-backups", args=[s.instance.pk])).status_code == 404


def test_make_template_then_launch_from_the_pages(s):
    backup = backup_services.backup_start(actor=s.a.user_general, instance=s.instance)
    run_queue()
    owner = _login(s.a.user_owner)
    assert b"Make template" in owner.get(reverse("ui:instance-backups", args=[s.instance.pk])).content
    form_url = reverse("ui:backup-make-template", args=[backup.pk])
    assert _login(s.a.user_general).get(form_url).status_code == 404
    made = _post(owner, form_url, {"name": "restore", "instance_type": "t3.micro", "subnet": s.subnet.pk,
                                   "security_group": s.security_group.pk})
    assert made.status_code == 302, made.content
    template = Template.objects.get(name="restore")
    backup.refresh_from_db()
    assert template.ami_id == backup.image_id
    general = _login(s.a.user_general)
    listing = general.get(reverse("ui:environment-launches", args=[s.environment.pk])).content.decode()
    assert "restore" in listing and reverse("ui:template-launch", args=[template.pk]) in listing
    launched = _post(general, reverse("ui:template-launch", args=[template.pk]))
    assert launched.status_code == 302
    run_queue()
    task = LaunchTask.objects.get(template=template)
    assert task.state == "completed" and task.created_by == s.a.user_general
    assert task.instance_id in general.get(reverse("ui:environment-launches", args=[s.environment.pk])).content \
        .decode()
