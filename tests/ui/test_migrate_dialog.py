"""The vCenter VMs page and its migrate dialog, against the sandbox peers (same services as the API)."""

import pytest
from django.test import Client
from django.urls import reverse

from environments.services import environment_revoke
from migrations_app.models import MigrationTask

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _browser(user):
    client = Client()
    client.force_login(user)
    return client


def _answers(s, vm_name, **overrides):
    return {"vm": s.vms[vm_name].moref, "environment": s.environment.pk, "operating_system": "ubuntu-22.04",
            "instance_type": "t2.micro", "subnet": s.subnet.pk, "security_group": s.security_group.pk,
            "key_pair": "", "private_ip": "", **overrides}


def test_vm_list_is_foldered_and_searchable(setup):
    s = setup
    page = _browser(s.alice).get(reverse("ui:vms"), {"q": "web"}).content.decode()
    assert "web01" in page and "db01" not in page and "Folder " in page and "poweredOff" in page


def test_dialog_shows_the_task_or_the_queue_position(setup):
    s = setup
    client = _browser(s.alice)
    form = client.get(reverse("ui:migrate-dialog"), {"vm": s.vms["web01"].moref}, HTTP_HX_REQUEST="true")
    assert f'value="{s.vms["web01"].moref}" selected' in form.content.decode()
    answer = client.post(reverse("ui:migrate-dialog"), _answers(s, "web01"), HTTP_HX_REQUEST="true")
    task = MigrationTask.objects.get()
    assert f'<strong class="task-id">{task.pk}</strong>' in answer.content.decode()


def test_dialog_keeps_answers_and_shows_refusals_beside_fields(setup):
    s = setup
    answer = _browser(s.alice).post(reverse("ui:migrate-dialog"), _answers(s, "web01", private_ip="10.9.9.9"),
                                    HTTP_HX_REQUEST="true").content.decode()
    assert "errorlist" in answer and 'value="10.9.9.9"' in answer
    assert not MigrationTask.objects.exists()


def test_environment_change_reloads_the_lists(setup):
    s = setup
    page = _browser(s.alice).get(reverse("ui:migrate-dialog"), {"reload": "1", "environment": s.environment.pk,
                                                                "vm": s.vms["db01"].moref, "private_ip": "10.0.0.5"},
                                 HTTP_HX_REQUEST="true").content.decode()
    assert s.subnet.subnet_id in page and 'value="10.0.0.5"' in page


def test_no_grant_gets_the_ask_your_administrator_message(setup):
    s = setup
    environment_revoke(actor=s.admin, environment=s.environment, principal=s.alice)
    page = _browser(s.alice).get(reverse("ui:migrate-dialog"), HTTP_HX_REQUEST="true").content.decode()
    assert "Ask an administrator" in page and "<form" not in page


def _row(page, vm_name):
    start = page.index(f'data-vm="{vm_name}"')
    return page[start:page.index("</tr>", start)]


def test_vm_list_says_before_the_click_what_cannot_be_migrated(setup):
    s = setup
    page = _browser(s.alice).get(reverse("ui:vms")).content.decode()
    rdm = _row(page, "lab-rdm01")
    assert "Cannot be migrated:" in rdm and "raw device mapping" in rdm and "disabled" in rdm
    assert 'aria-describedby="why-' in rdm
    # alice holds VApp.Export on Production only (the sandbox's inventory)
    big = _row(page, "lab-big01")
    assert "does not hold the VApp.Export privilege" in big and "disabled" in big
    web = _row(page, "web01")
    assert "Cannot be migrated" not in web and "hx-get" in web


def test_vm_list_shows_guest_os_names_people_read(setup):
    page = _browser(setup.alice).get(reverse("ui:vms")).content.decode()
    assert "Red Hat Enterprise Linux 7 (64-bit)" in _row(page, "db01")
    assert "rhel7_64Guest" not in page


def test_dialog_prefills_the_os_and_suggests_an_instance_type_from_the_vm(setup):
    s = setup
    form = _browser(s.alice).get(reverse("ui:migrate-dialog"), {"vm": s.vms["web01"].moref},
                                 HTTP_HX_REQUEST="true").content.decode()
    assert '<option value="ubuntu-22.04" selected>' in form and "Pre-filled from the VM&#x27;s guest OS" in form
    assert '<option value="t2.medium" selected>' in form and "only a suggestion" in form
    # the VPC's default security group is never chosen for the user
    assert '<option value="" selected>Choose a security group</option>' in form


def test_dialog_changing_the_vm_suggests_for_the_new_vm(setup):
    s = setup
    form = _browser(s.alice).get(reverse("ui:migrate-dialog"), {
        "reload": "vm", "vm": s.vms["win01"].moref, "environment": s.environment.pk,
        "operating_system": "ubuntu-22.04", "instance_type": "t2.micro", "private_ip": "10.0.0.7"},
        HTTP_HX_REQUEST="true").content.decode()
    assert '<option value="windows-server-2016" selected>' in form and 'value="10.0.0.7"' in form


def test_dialog_refuses_a_missing_os_beside_the_field(setup):
    s = setup
    answer = _browser(s.alice).post(reverse("ui:migrate-dialog"), _answers(s, "web01", operating_system=""),
                                    HTTP_HX_REQUEST="true").content.decode()
    assert 'id="id_operating_system_error"' in answer
    assert not MigrationTask.objects.exists()
