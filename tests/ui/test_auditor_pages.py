"""Auditors see the administrators' people and settings pages read-only: every page opens, none has a button that
changes anything, a POST to any of them is refused (403) and changes nothing, and no secret is ever shown, to
auditors or administrators, on the pages or through the API."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from environments.models import Environment, Template
from exports.models import ExportTask
from lifecycle.backups.models import BackupSchedule, BackupTask
from migrations_app.models import MigrationTask
from core import services
from core.models import AuditLog, TenantAwsAccount, TenantGroup, TenantVCenter, User

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYnevershown"


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def configured(world):
    """Tenant A with both peers configured, secrets included (the vCenter account is its connector's)."""
    a = world.a
    services.vcenter_update(actor=a.admin, data={"url": "https://vcenter.example.com/sdk",
                                                 "dns_suffixes": "corp.example.com", "connector_updating": True})
    services.aws_account_update(actor=a.admin, data={"account_id": "123456789012",
                                                     "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                                                     "secret_access_key": AWS_SECRET})
    return world


def admin_pages(world):
    a = world.a
    return {
        "users": reverse("ui:users"),
        "user-edit": reverse("ui:user-edit", args=[a.user_ro.pk]),
        "group-edit": reverse("ui:group-edit", args=[a.group.pk]),
        "settings": reverse("ui:settings"),
        "vmimport-role": reverse("ui:vmimport-role"),
    }


POST_FORM = re.compile(r"<form\b[^>]*\bmethod=[\"']?post[^>]*>", re.IGNORECASE)
BUTTON = re.compile(r"<button\b([^>]*)>(.*?)</button>", re.IGNORECASE | re.DOTALL)
SUBMIT_INPUT = re.compile(r"<input\b[^>]*type=[\"']?(submit|button|reset)", re.IGNORECASE)
# What a reader may press: the shell's logout and dialog close, and the GET forms that search, filter or choose.
HARMLESS = {"Log out", "Filter", "Search", "Show"}


def changing_controls(html: str) -> list[str]:
    found = [m.group(0) for m in POST_FORM.finditer(html) if "logout" not in m.group(0)]
    for attrs, text in BUTTON.findall(html):
        label = re.sub(r"<[^>]+>", "", text).strip()
        if label in HARMLESS or "data-close-dialog" in attrs:
            continue
        found.append(f"button {label!r}")
    found += [m.group(0) for m in SUBMIT_INPUT.finditer(html)]
    return found


def test_auditor_opens_every_admin_page_without_a_changing_control(configured):
    client = _client(configured.a.auditor)
    for name, url in admin_pages(configured).items():
        response = client.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert not changing_controls(html), (name, changing_controls(html))
        for word in ("Create user", "Create group", "Add a user", "Add a group", "Save", "Delete",
                     "Test the connections", "I agree", "New password", "Grant"):
            assert word not in html, (name, word)


def test_the_check_finds_the_administrators_controls(configured):
    """The same check on the administrator's pages finds their buttons, so it can fail."""
    client = _client(configured.a.admin)
    found = {name: changing_controls(client.get(url).content.decode())
             for name, url in admin_pages(configured).items() if name != "vmimport-role"}
    assert all(found.values()), found
    assert "button 'Create user'" in found["users"] and "button 'Test the connections'" in found["settings"]


def test_auditor_reads_what_the_administrator_sees(configured):
    a = configured.a
    client = _client(a.auditor)
    users = client.get(reverse("ui:users")).content.decode()
    for person in (a.admin, a.user_ro, a.user_nogrant):
        assert person.username in users
    assert "operators" in users and reverse("ui:user-edit", args=[a.user_ro.pk]) in users
    assert "globex" not in users
    subject = client.get(reverse("ui:user-edit", args=[a.user_nogrant.pk])).content.decode()
    assert "operators" in subject and "Read-only" in subject  # the group the user is a member of
    group = client.get(reverse("ui:group-edit", args=[a.group.pk])).content.decode()
    assert a.user_nogrant.username in group
    settings = client.get(reverse("ui:settings")).content.decode()
    for shown in ("https://vcenter.example.com/sdk", "corp.example.com", "123456789012",
                  "AKIAIOSFODNN7EXAMPLE", a.tenant.aws_account.external_id, "set (not shown)"):
        assert shown in settings, shown
    assert re.search(r"Connector updating[^<]*</dt><dd>yes", settings)


def test_auditor_gets_404_for_another_tenants_rows(configured):
    client = _client(configured.a.auditor)
    assert client.get(reverse("ui:user-edit", args=[configured.b.admin.pk])).status_code == 404
    assert client.get(reverse("ui:group-edit", args=[configured.b.group.pk])).status_code == 404


def _posts(world):
    a = world.a
    return [
        (reverse("ui:users"), {"form": "user", "user-username": "mallory", "user-role": "admin",
                               "user-password": "a-long-enough-Passw0rd"}),
        (reverse("ui:users"), {"form": "group", "group-name": "auditors-own"}),
        (reverse("ui:user-edit", args=[a.auditor.pk]), {"role": "admin", "is_active": "on"}),
        (reverse("ui:user-edit", args=[a.user_ro.pk]), {"role": "user", "is_active": "",
                                                        "password": "another-long-Passw0rd"}),
        (reverse("ui:group-edit", args=[a.group.pk]), {"name": "renamed"}),
        (reverse("ui:group-edit", args=[a.group.pk]), {"delete": "1"}),
        (reverse("ui:settings"), {"form": "vcenter", "vc-url": "https://evil.example.com/sdk"}),
        (reverse("ui:settings"), {"form": "aws", "aws-auth_mode": "access_keys", "aws-account_id": "999999999999"}),
        (reverse("ui:connection-test"), {}),
    ]


def _state(world):
    a = world.a
    return (sorted(User.objects.filter(tenant=a.tenant).values_list("username", "role", "is_active", "password")),
            sorted(TenantGroup.objects.filter(tenant=a.tenant).values_list("display_name", flat=True)),
            TenantVCenter.objects.filter(tenant=a.tenant).values_list("url", "verify_tls").get(),
            TenantAwsAccount.objects.filter(tenant=a.tenant).values_list("account_id", "auth_mode").get(),
            AuditLog.objects.filter(tenant=a.tenant).exclude(outcome="denied").count())


def test_auditor_posts_are_refused_and_change_nothing(configured):
    before = _state(configured)
    client = _client(configured.a.auditor)
    for url, data in _posts(configured):
        response = client.post(url, data)
        assert response.status_code == 403, (url, data, response.status_code)
        assert client.post(url, data, HTTP_HX_REQUEST="true").status_code == 403, url
    assert _state(configured) == before


def _feature_posts(world):
    """A change an auditor may post on each environment, instance, template, backup, export and migration page."""
    a = world.a
    return [
        (reverse("ui:regions"), {"form": "region", "region-code": "eu-west-1"}),
        (reverse("ui:region-delete", args=[a.region.pk]), {}),
        (reverse("ui:environment-edit", args=[a.environment.pk]), {"name": "renamed", "vpc_id": "", "description": ""}),
        (reverse("ui:environment-delete", args=[a.other_environment.pk]), {}),
        (reverse("ui:environment-sync", args=[a.environment.pk]), {}),
        (reverse("ui:environment-permissions", args=[a.environment.pk]),
         {"principal": f"user:{a.user_nogrant.pk}", "role": "owner"}),
        (reverse("ui:template-create", args=[a.environment.pk]), {"name": "mine"}),
        (reverse("ui:template-edit", args=[a.template.pk]), {"name": "renamed"}),
        (reverse("ui:template-delete", args=[a.template.pk]), {}),
        (reverse("ui:template-launch", args=[a.template.pk]), {}),
        (reverse("ui:instance-power", args=[a.instance.pk]), {"action": "stop"}),
        (reverse("ui:instance-backup-start", args=[a.instance.pk]), {"reboot": "on"}),
        (reverse("ui:instance-schedule-add", args=[a.instance.pk]), {"cron": "0 1 * * *", "keep_last": "2"}),
        (reverse("ui:backup-schedule-delete", args=[a.backup_schedule.pk]), {}),
        (reverse("ui:backup-cancel", args=[a.backup.pk]), {}),
        (reverse("ui:backup-make-template", args=[a.backup.pk]), {"name": "mine"}),
        (reverse("ui:export-configure"), {"name": "other", "action": "apply", "consent": "on"}),
        (reverse("ui:export-start", args=[a.instance.pk]), {"s3_prefix": "vms/"}),
        (reverse("ui:export-cancel", args=[a.export.pk]), {"confirm": "on"}),
        (reverse("ui:migrate", args=[a.environment.pk]), {"vm": "vm-40"}),
        (reverse("ui:migrate-dialog"), {"environment": a.environment.pk, "vm": "vm-40"}),
        (reverse("ui:migration-cancel", args=[a.migration.pk]), {}),
        (reverse("ui:vmimport-role"), {"consent": "on"}),
    ]


def _feature_state(world):
    a = world.a
    return (_state(world), sorted(Environment.objects.filter(tenant=a.tenant).values_list("name", "description")),
            sorted(Template.objects.filter(tenant=a.tenant).values_list("name", flat=True)),
            MigrationTask.objects.get(pk=a.migration.pk).state, BackupSchedule.objects.filter(tenant=a.tenant).count(),
            BackupTask.objects.filter(tenant=a.tenant).count(), ExportTask.objects.filter(tenant=a.tenant).count())


def test_auditor_posts_to_feature_pages_are_refused_like_on_settings(configured):
    """The README's promise, on every page and not only on the people and settings pages: an auditor may read the
    row, so a change posted anyway is a 403 (never a 404, as if the row were not there), and changes nothing."""
    before = _feature_state(configured)
    client = _client(configured.a.auditor)
    refused = {url: client.post(url, data).status_code for url, data in _feature_posts(configured)}
    assert refused == {url: 403 for url, _ in _feature_posts(configured)}
    assert _feature_state(configured) == before


@pytest.mark.parametrize("role", ["user_general", "user_owner", "user_nogrant"])
def test_plain_users_get_neither_page_nor_post(configured, role):
    """Their role may never read or change these pages: 403 before anything is looked up, as from the API."""
    before = _state(configured)
    client = _client(getattr(configured.a, role))
    for name, url in admin_pages(configured).items():
        assert client.get(url).status_code == 403, name
    for url, data in _posts(configured):
        assert client.post(url, data).status_code == 403, url
    assert _state(configured) == before
    home = client.get(reverse("ui:home")).content.decode()
    assert reverse("ui:users") not in home and reverse("ui:settings") not in home


def test_nav_shows_the_admin_pages_to_auditors(configured):
    html = _client(configured.a.auditor).get(reverse("ui:home")).content.decode()
    assert f'href="{reverse("ui:users")}"' in html and f'href="{reverse("ui:settings")}"' in html
    assert f'href="{reverse("ui:vmimport-role")}"' in html


def test_auditor_reading_settings_creates_nothing(world):
    """Before an administrator's first visit there is no AWS account row; an auditor's read does not create one
    (nor an audit row), on the page or through the API."""
    a = world.a
    TenantAwsAccount.objects.filter(tenant=a.tenant).delete()
    audit_rows = AuditLog.objects.filter(tenant=a.tenant).count()
    html = _client(a.auditor).get(reverse("ui:settings")).content.decode()
    assert "No AWS account is configured yet" in html
    client = _client(a.auditor)
    body = client.get(reverse("api:settings-aws")).json()
    assert body["external_id"] == "" and body["secret_access_key_set"] is False
    assert not TenantAwsAccount.objects.filter(tenant=a.tenant).exists()
    assert AuditLog.objects.filter(tenant=a.tenant).count() == audit_rows


SECRETS = (AWS_SECRET,)


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_no_secret_is_ever_shown(configured, role):
    user = getattr(configured.a, role)
    client = _client(user)
    hashes = [h.split("$")[-1] for h in User.objects.filter(tenant=configured.a.tenant).values_list(
        "password", flat=True) if "$" in h]
    assert hashes
    urls = list(admin_pages(configured).values()) + [
        reverse("api:settings-aws"), reverse("api:settings-vcenter"), reverse("api:user-list"),
        reverse("api:user-detail", args=[configured.a.user_ro.pk]), reverse("api:group-list")]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        for secret in SECRETS + tuple(hashes):
            assert secret not in text, (url, secret[:6])
        assert "pbkdf2" not in text and "argon2" not in text, url
    aws = client.get(reverse("api:settings-aws")).json()
    vcenter = client.get(reverse("api:settings-vcenter")).json()
    assert "secret_access_key" not in aws and aws["secret_access_key_set"] is True
    assert "password" not in vcenter and "username" not in vcenter
    assert all("password" not in row for row in client.get(reverse("api:user-list")).json()["results"])


def test_api_auditors_read_people_and_settings_but_write_nothing(configured, api):
    a = configured.a
    client = api.as_user(a.auditor)
    names = {row["username"] for row in client.get(reverse("api:user-list")).json()["results"]}
    assert {a.admin.username, a.user_ro.username} <= names and configured.b.admin.username not in names
    assert client.get(reverse("api:settings-vcenter")).json()["url"] == "https://vcenter.example.com/sdk"
    before = _state(configured)
    assert client.put(reverse("api:settings-vcenter"), {"url": "https://evil.example.com/sdk"},
                      format="json").status_code == 403
    assert client.put(reverse("api:settings-aws"), {"account_id": "999999999999"}, format="json").status_code == 403
    assert client.patch(reverse("api:user-detail", args=[a.auditor.pk]), {"role": "admin"},
                        format="json").status_code == 403
    assert client.post(reverse("api:group-list"), {"name": "x"}, format="json").status_code == 403
    assert client.delete(reverse("api:group-detail", args=[a.group.pk])).status_code == 403
    assert _state(configured) == before
    assert AuditLog.objects.filter(tenant=a.tenant, actor=a.auditor, outcome="denied").count() == 5
