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
