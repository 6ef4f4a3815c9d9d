"""EC2 launches a Nitro instance type (t3, m5, m6i, c5, ...) only from an image with EnaSupport, and VM Import/Export
enables ENA on Windows imports only. A Linux migration to a Nitro type would upload and convert every disk and then
fail at launch, so it is refused when asked for, naming the field; Windows may use any supported type."""

import pytest
from django.test import Client
from django.urls import reverse

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from tests.migrations.helpers import drive

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


@pytest.mark.parametrize("instance_type", ["t3.micro", "m5.large", "m6i.large", "c5.large", "r6i.large"])
def test_a_linux_migration_to_a_nitro_type_is_refused_naming_the_field(setup, start_migration, instance_type):
    s = setup
    response = start_migration(s, s.alice, "web01", operating_system="ubuntu-22.04", instance_type=instance_type)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["attr"] == "instance_type" and "ENA" in error["detail"] and "t2.micro" in error["detail"]
    assert not MigrationTask.objects.exists()


def test_a_windows_migration_to_a_nitro_type_launches(setup, start_migration, windows_vm):
    s = setup
    s.aws.set_speed(500)
    response = start_migration(s, s.alice, windows_vm, operating_system="windows-server-2016", instance_type="m5.large",
                               power_off=True)
    assert response.status_code == 201, response.content
    drive(response.json()["id"])
    task = MigrationTask.objects.get()
    assert task.state == MigrationState.COMPLETED, (task.error_code, task.status_message)
    ec2 = s.aws.client("ec2")
    assert ec2.describe_images(ImageIds=[task.image_id])["Images"][0]["EnaSupport"] is True
    instance = ec2.describe_instances(InstanceIds=[task.instance_id])["Reservations"][0]["Instances"][0]
    assert instance["InstanceType"] == "m5.large"


def test_a_linux_migration_to_a_xen_type_launches(setup, start_migration):
    s = setup
    s.aws.set_speed(500)
    response = start_migration(s, s.alice, "web01", operating_system="rhel-9", instance_type="t2.small")
    assert response.status_code == 201, response.content
    drive(response.json()["id"])
    task = MigrationTask.objects.get()
    assert task.state == MigrationState.COMPLETED, (task.error_code, task.status_message)


def test_the_form_shows_the_refusal_on_the_instance_type(setup):
    s = setup
    browser = Client()
    browser.force_login(s.alice)
    form = {"vm": s.vms["web01"].moref, "operating_system": "debian-12", "instance_type": "c6i.large",
            "subnet": s.subnet.pk, "security_group": s.security_group.pk, "key_pair": "", "private_ip": ""}
    response = browser.post(reverse("ui:migrate", args=[s.environment.pk]), form)
    assert response.status_code == 200
    assert "requires enhanced networking (ENA)" in response.content.decode()
    assert not MigrationTask.objects.exists()
