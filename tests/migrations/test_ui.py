"""The migrate form drives the same services as the API."""

import pytest
from django.test import Client
from django.urls import reverse

from migrations_app.models import MigrationTask

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _browser(user):
    client = Client()
    client.force_login(user)
    return client


def _form(s, vm_name, **overrides):
    # t2: a Linux import has no ENA, so Nitro types are refused (tests/migrations/test_ena.py)
    return {"vm": s.vms[vm_name].moref, "operating_system": "ubuntu-22.04", "instance_type": "t2.micro",
            "subnet": s.subnet.pk, "security_group": s.security_group.pk, "key_pair": "", "private_ip": "",
            **overrides}


def test_migrate_from_the_form(setup):
    s = setup
    browser = _browser(s.alice)
    url = reverse("ui:migrate", args=[s.environment.pk])
    page = browser.get(url).content.decode()
    assert "web01" in page and s.subnet.subnet_id in page
    response = browser.post(url, _form(s, "web01"))
    assert response.status_code == 302
    task = MigrationTask.objects.get()
    assert task.vm_name == "web01" and task.created_by == s.alice
    listing = browser.get(reverse("ui:environment-panel", args=[s.environment.pk, "vm-to-ec2-migrations"])
                          ).content.decode()
    assert "web01" in listing and "Exporting" in listing


def test_refusals_are_shown_on_the_form(setup):
    s = setup
    response = _browser(s.bob).post(reverse("ui:migrate", args=[s.environment.pk]), _form(s, "web01"))
    assert response.status_code == 200
    assert "does not hold the VApp.Export privilege" in response.content.decode()
    assert not MigrationTask.objects.exists()


def test_form_is_404_without_general_role(setup):
    from environments.services import environment_revoke

    s = setup
    environment_revoke(actor=s.admin, environment=s.environment, principal=s.alice)
    assert _browser(s.alice).get(reverse("ui:migrate", args=[s.environment.pk])).status_code == 404
