"""Owners manage their environment's launch templates from the Templates tab, through the same services."""

from django.test import Client
from django.urls import reverse

from environments.models import Template
from core.models import AuditLog


def _browser(user):
    client = Client()
    client.force_login(user)
    return client


def _body(a, **overrides):
    return {"name": "api-tier", "description": "", "ami_id": "ami-0123456789abcdef0", "instance_type": "t3.small",
            "subnet": a.subnet.pk, "security_group": a.security_group.pk, "key_pair": "", **overrides}


def test_an_owner_creates_edits_and_deletes_a_template(world, sandbox_image):
    a = world.a
    owner = _browser(a.user_owner)
    tab = owner.get(reverse("ui:environment-templates", args=[a.environment.pk])).content.decode()
    assert reverse("ui:template-create", args=[a.environment.pk]) in tab
    created = owner.post(reverse("ui:template-create", args=[a.environment.pk]), _body(a, ami_id=sandbox_image))
    assert created.status_code == 302
    template = Template.objects.get(environment=a.environment, name="api-tier")
    assert template.created_by == a.user_owner
    edited = owner.post(reverse("ui:template-edit", args=[template.pk]),
                        _body(a, ami_id=sandbox_image, instance_type="t3.large"))
    assert edited.status_code == 302
    template.refresh_from_db()
    assert template.instance_type == "t3.large"
    assert owner.post(reverse("ui:template-delete", args=[template.pk])).status_code == 302
    assert not Template.objects.filter(pk=template.pk).exists()
    assert {"template.create", "template.update", "template.delete"} <= set(
        AuditLog.objects.filter(object_type="environments.Template").values_list("action", flat=True))


def test_the_form_keeps_input_and_shows_errors_beside_fields(world):
    a = world.a
    response = _browser(a.user_owner).post(reverse("ui:template-create", args=[a.environment.pk]),
                                           _body(a, ami_id="not-an-ami", name="keep-me"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "An AMI id looks like" in page and 'value="keep-me"' in page
    duplicate = _browser(a.user_owner).post(reverse("ui:template-create", args=[a.environment.pk]),
                                            _body(a, name=a.template.name))
    assert duplicate.status_code == 200 and "already exists" in duplicate.content.decode()


def test_only_owners_and_admins_manage_templates(world):
    a, b = world.a, world.b
    # Users without the owner role and other tenants' administrators address rows they may not manage (404);
    # auditors may never manage a template (403, before any lookup).
    for user, status in ((a.user_general, 404), (a.user_ro, 404), (a.auditor, 403), (b.admin, 404)):
        browser = _browser(user)
        assert browser.get(reverse("ui:template-create", args=[a.environment.pk])).status_code == status
        assert browser.post(reverse("ui:template-delete", args=[a.template.pk])).status_code == status
    assert Template.objects.filter(pk=a.template.pk).exists()
    auditor_tab = _browser(a.auditor).get(reverse("ui:environment-templates", args=[a.environment.pk]))
    assert auditor_tab.status_code == 200
    assert reverse("ui:template-edit", args=[a.template.pk]) not in auditor_tab.content.decode()
    assert _browser(a.admin).get(reverse("ui:template-edit", args=[a.template.pk])).status_code == 200
