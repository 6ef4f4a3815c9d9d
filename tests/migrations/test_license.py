"""The imported image's licence is the user's choice and is always sent as ImportImage's LicenseType: AWS (license
included) is the default for Windows, BYOL may be chosen instead; Linux is BYOL only (VM Import/Export User Guide,
"Licensing options"), so asking AWS for it is refused before anything starts."""

import pytest
from django.test import Client
from django.urls import reverse

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from core.models import AuditLog
from adapters.aws import client as aws
from tests.migrations.helpers import drive

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]

# win01 is the sandbox's Windows guest (a Windows system for a Linux guest is refused); it is powered on.
WINDOWS = {"operating_system": "windows-server-2019", "instance_type": "t3.micro", "power_off": True}
LINUX = {"operating_system": "ubuntu-22.04", "instance_type": "t2.micro"}


@pytest.fixture
def sent(monkeypatch):
    """The LicenseType of every ImportImage the portal sends."""
    real, seen = aws.import_image, []

    def spy(*args, **kwargs):
        seen.append(kwargs["license_type"])
        return real(*args, **kwargs)

    monkeypatch.setattr(aws, "import_image", spy)
    return seen


def _import_license(s, task):
    return s.aws.client("ec2").describe_import_image_tasks(
        ImportTaskIds=[task.import_task_id])["ImportImageTasks"][0]["LicenseType"]


def _migrate(s, start_migration, vm="web01", **body):
    s.aws.set_speed(500)
    response = start_migration(s, s.alice, vm, **body)
    assert response.status_code == 201, response.content
    task_id = response.json()["id"]
    drive(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.COMPLETED, (task.error_code, task.status_message)
    return response, task


def test_windows_is_imported_with_the_aws_license_by_default_and_says_so(setup, start_migration, sent, windows_vm):
    s = setup
    response, task = _migrate(s, start_migration, windows_vm, **WINDOWS)
    assert response.json()["license_type"] == "AWS" and task.license_type == "AWS"
    assert sent == ["AWS"] and _import_license(s, task) == "AWS"
    assert AuditLog.objects.get(action="migration.create").detail["license_type"] == "AWS"


def test_windows_with_byol_is_imported_as_byol(setup, start_migration, sent, windows_vm):
    s = setup
    response, task = _migrate(s, start_migration, windows_vm, license_type="BYOL", **WINDOWS)
    assert response.json()["license_type"] == "BYOL"
    assert sent == ["BYOL"] and _import_license(s, task) == "BYOL"


def test_linux_sends_byol(setup, start_migration, sent):
    s = setup
    _, task = _migrate(s, start_migration, **LINUX)
    assert task.license_type == "BYOL" and sent == ["BYOL"] and _import_license(s, task) == "BYOL"


def test_linux_with_the_aws_license_is_refused_naming_the_field(setup, start_migration):
    s = setup
    response = start_migration(s, s.alice, "web01", license_type="AWS", **LINUX)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["attr"] == "license_type" and "BYOL" in error["detail"]
    assert not MigrationTask.objects.exists()


def test_an_unknown_license_is_refused_naming_the_field(setup, start_migration):
    s = setup
    response = start_migration(s, s.alice, "web01", license_type="FREE", **LINUX)
    assert response.status_code == 400 and response.json()["errors"][0]["attr"] == "license_type"
    assert not MigrationTask.objects.exists()


def test_the_form_offers_the_choice_and_keeps_it(setup):
    s = setup
    browser = Client()
    browser.force_login(s.alice)
    url = reverse("ui:migrate", args=[s.environment.pk])
    page = browser.get(url).content.decode()
    assert 'name="license_type"' in page and "AWS license included" in page and "BYOL" in page
    form = {"vm": s.vms["win01"].moref, "subnet": s.subnet.pk, "security_group": s.security_group.pk,
            "key_pair": "", "private_ip": "", "license_type": "BYOL", **WINDOWS, "power_off": "on"}
    assert browser.post(url, form).status_code == 302
    assert MigrationTask.objects.get().license_type == "BYOL"


def test_the_form_shows_the_linux_refusal_on_the_field(setup):
    s = setup
    browser = Client()
    browser.force_login(s.alice)
    form = {"vm": s.vms["web01"].moref, "subnet": s.subnet.pk, "security_group": s.security_group.pk,
            "key_pair": "", "private_ip": "", "license_type": "AWS", **LINUX}
    response = browser.post(reverse("ui:migrate", args=[s.environment.pk]), form)
    assert response.status_code == 200
    assert "can only be imported with their own licence (BYOL)" in response.content.decode()
    assert not MigrationTask.objects.exists()
