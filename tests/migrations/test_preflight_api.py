"""Pre-flight before the token, through the API and the migrate dialog against the sandbox peers: AWS is asked how
things are now (not as last synced), every problem is answered at once naming its field, and the VM's firmware
reaches ImportImage as its BootMode."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from environments import services as env_services
from environments.models import SecurityGroup, Subnet
from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from tests.migrations.helpers import drive

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _errors(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {e["attr"]: e["detail"] for e in response.json()["errors"]}


def _synced_group_deleted_in_aws(s, name="gone-web"):
    """A security group the portal synced, then deleted in AWS behind its back."""
    ec2 = s.aws.client("ec2")
    vpc_id = ec2.describe_subnets(SubnetIds=[s.subnet.subnet_id])["Subnets"][0]["VpcId"]
    group_id = ec2.create_security_group(GroupName=name, Description="deleted after the sync", VpcId=vpc_id)["GroupId"]
    env_services.environment_sync(actor=s.admin, environment=s.environment)
    group = SecurityGroup.objects.get(environment=s.environment, group_id=group_id)
    ec2.delete_security_group(GroupId=group_id)
    return group


def _ip_in_use(s) -> str:
    ec2 = s.aws.client("ec2")
    eni = ec2.create_network_interface(SubnetId=s.subnet.subnet_id)["NetworkInterface"]
    return eni["PrivateIpAddress"]


def test_a_security_group_deleted_in_aws_after_the_sync_is_refused(setup, start_migration):
    s = setup
    group = _synced_group_deleted_in_aws(s)
    errors = _errors(start_migration(s, s.alice, "web01", security_group=group.pk))
    assert set(errors) == {"security_group"} and "no longer in AWS" in errors["security_group"]
    assert not MigrationTask.objects.exists()


def test_an_instance_type_not_offered_in_the_subnets_zone_is_refused(setup, start_migration, windows_vm):
    """moto's us-east-1e offers no Nitro type, as AWS's does not."""
    s = setup
    subnet = Subnet.objects.get(environment=s.environment, availability_zone="us-east-1e")
    errors = _errors(start_migration(s, s.alice, windows_vm, operating_system="windows-server-2016",
                                     instance_type="m5.large", subnet=subnet.pk, power_off=True))
    assert set(errors) == {"instance_type"}
    assert "not offered in us-east-1e" in errors["instance_type"] and subnet.subnet_id in errors["instance_type"]


def test_a_nitro_type_for_an_os_without_ena_is_refused_with_the_reason(setup, start_migration):
    s = setup
    response = start_migration(s, s.alice, "web01", operating_system="rhel-9", instance_type="c5.large")
    errors = _errors(response)
    assert set(errors) == {"instance_type"} and "enhanced networking (ENA)" in errors["instance_type"]
    # A stable code per check, so plan validation and API clients need not parse the sentence.
    assert response.json()["errors"][0]["code"] == "ena_required"


def test_a_uefi_vm_on_a_type_that_boots_only_bios_is_refused(setup, start_migration, windows_vm):
    s = setup
    response = start_migration(s, s.alice, windows_vm, operating_system="windows-server-2016", instance_type="t2.micro",
                               power_off=True)
    errors = _errors(response)
    assert set(errors) == {"instance_type"} and "UEFI" in errors["instance_type"]
    assert response.json()["errors"][0]["code"] == "boot_mode_not_supported"


def test_a_windows_os_for_a_linux_guest_is_refused_naming_the_field(setup, start_migration):
    s = setup
    errors = _errors(start_migration(s, s.alice, "web01", operating_system="windows-server-2019"))
    assert set(errors) == {"operating_system"}
    assert "Windows" in errors["operating_system"] and "Ubuntu Linux" in errors["operating_system"]
    assert not MigrationTask.objects.exists()


def test_a_vm_over_215_gb_committed_is_refused(setup, start_migration, monkeypatch):
    """The simulator reports no committed storage (govmomi 0.24 leaves summary.storage.committed at 0), so the
    adapter's reads of it are made to answer 300 GB for web01; the check itself runs as in production, on what the
    tenant's connector reported."""
    from adapters.vsphere import client as vsphere

    import dataclasses

    real = vsphere._committed_bytes
    monkeypatch.setattr(vsphere, "_committed_bytes", lambda vm: 300 * 10**9 if vm.name == "web01" else real(vm))
    real_list = vsphere.VCenterSession.list_vms  # the inventory's one-call read of every VM

    def list_vms(session, *args, **kwargs):
        return [dataclasses.replace(vm, committed_bytes=300 * 10**9) if vm.name == "web01" else vm
                for vm in real_list(session, *args, **kwargs)]

    monkeypatch.setattr(vsphere.VCenterSession, "list_vms", list_vms)
    s = setup
    s.agent.report_inventory()  # the connector reads the VMs (through the same adapter); the portal checks that
    errors = _errors(start_migration(s, s.alice, "web01"))
    assert set(errors) == {"vm"} and "more than 215 GB to export" in errors["vm"]


def test_a_private_ip_in_use_is_refused_together_with_every_other_problem(setup, start_migration):
    s = setup
    group = _synced_group_deleted_in_aws(s)
    address = _ip_in_use(s)
    errors = _errors(start_migration(s, s.alice, "web01", operating_system="windows-server-2019",
                                     security_group=group.pk, private_ip=address))
    assert set(errors) == {"operating_system", "security_group", "private_ip"}
    assert "already in use" in errors["private_ip"]


@pytest.mark.parametrize("vm_name,operating_system,instance_type,boot_mode", [
    ("win01", "windows-server-2016", "t3.micro", "uefi"), ("web01", "ubuntu-22.04", "t2.micro", "legacy-bios")])
def test_import_image_receives_the_vms_boot_mode(setup, start_migration, windows_vm, vm_name, operating_system,
                                                 instance_type, boot_mode):
    s = setup
    s.aws.set_speed(500)
    response = start_migration(s, s.alice, vm_name, operating_system=operating_system, instance_type=instance_type,
                               power_off=True)
    assert response.status_code == 201, response.content
    drive(response.json()["id"])
    task = MigrationTask.objects.get()
    assert task.state == MigrationState.COMPLETED, (task.error_code, task.status_message)
    sent = s.aws.client("ec2").describe_import_image_tasks(ImportTaskIds=[task.import_task_id])["ImportImageTasks"][0]
    assert sent["BootMode"] == boot_mode and task.boot_mode == boot_mode


#
# The migrate dialog
#


def _browser(user):
    client = Client()
    client.force_login(user)
    return client


def _option(page: str, field: str, value) -> str:
    select = re.search(rf'<select name="{field}".*?</select>', page, re.DOTALL).group(0)
    return re.search(rf'<option value="{value}"[^>]*>([^<]*)</option>', select).group(1)


def _options(page: str, field: str) -> list[str]:
    select = re.search(rf'<select name="{field}".*?</select>', page, re.DOTALL).group(0)
    return re.findall(r'<option value="([^"]*)"', select)


def test_the_dialog_marks_and_refuses_a_security_group_aws_no_longer_has(setup):
    s = setup
    group = _synced_group_deleted_in_aws(s)
    client = _browser(s.alice)
    page = client.get(reverse("ui:migrate-dialog"), {"vm": s.vms["web01"].moref},
                      HTTP_HX_REQUEST="true").content.decode()
    assert _option(page, "security_group", group.pk).endswith("(no longer in AWS)")
    assert "no longer in AWS" not in _option(page, "security_group", s.security_group.pk)
    answers = {"vm": s.vms["web01"].moref, "environment": s.environment.pk, "operating_system": "ubuntu-22.04",
               "instance_type": "t2.micro", "subnet": s.subnet.pk, "security_group": group.pk, "key_pair": "",
               "private_ip": ""}
    answer = client.post(reverse("ui:migrate-dialog"), answers, HTTP_HX_REQUEST="true").content.decode()
    error = re.search(r'<ul class="errorlist" id="id_security_group_error">(.*?)</ul>', answer, re.DOTALL)
    assert error and "no longer in AWS" in error.group(1)
    assert not MigrationTask.objects.exists()


def test_the_dialog_offers_nitro_types_only_to_an_os_whose_import_enables_ena(setup):
    s = setup
    client = _browser(s.alice)
    linux = client.get(reverse("ui:migrate-dialog"), {"vm": s.vms["web01"].moref},
                       HTTP_HX_REQUEST="true").content.decode()
    assert "t2.micro" in _options(linux, "instance_type") and "m5.large" not in _options(linux, "instance_type")
    # Choosing Windows reloads the dialog with the types Windows can run.
    windows = client.get(reverse("ui:migrate-dialog"), {
        "reload": "operating_system", "vm": s.vms["win01"].moref, "environment": s.environment.pk,
        "operating_system": "windows-server-2016"}, HTTP_HX_REQUEST="true").content.decode()
    # win01 boots with UEFI, which only Nitro types boot.
    assert "m5.large" in _options(windows, "instance_type") and "t2.micro" not in _options(windows, "instance_type")
