"""Every page answers each role as its `Need` says; auditors read administrators' pages without a single form that
changes anything; forms keep input and show errors beside fields; each page has a query budget."""

import csv
import io
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments.models import Environment, Region
from migrations_app.models import MigrationTask
from core.models import AuditLog, User
from tests.portal.test_query_budgets import _grow


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def pages(world):
    a = world.a
    return {
        "home": reverse("ui:home"),
        "environment": reverse("ui:environment", args=[a.environment.pk]),
        "migrations-tab": reverse("ui:environment-panel", args=[a.environment.pk, "vm-to-ec2-migrations"]),
        "migration-rows": reverse("ui:migration-rows", args=[a.environment.pk]),
        "instances-tab": reverse("ui:environment-instances", args=[a.environment.pk]),
        "templates-tab": reverse("ui:environment-templates", args=[a.environment.pk]),
        "permissions-tab": reverse("ui:environment-permissions", args=[a.environment.pk]),
        "instance": reverse("ui:instance", args=[a.instance.pk]),
        "regions": reverse("ui:regions"),
        "environment-edit": reverse("ui:environment-edit", args=[a.environment.pk]),
        "environment-delete": reverse("ui:environment-delete", args=[a.other_environment.pk]),
        "region-delete": reverse("ui:region-delete", args=[a.region.pk]),
        "vms": reverse("ui:vms"),
        "migrate-dialog": reverse("ui:migrate-dialog"),
        "migration-cancel": reverse("ui:migration-cancel", args=[a.migration.pk]),
        "vmimport-role": reverse("ui:vmimport-role"),
        "audit-log": reverse("ui:audit-log"),
        "users": reverse("ui:users"),
        "user-edit": reverse("ui:user-edit", args=[a.user_ro.pk]),
        "group-edit": reverse("ui:group-edit", args=[a.group.pk]),
        "settings": reverse("ui:settings"),
    }


# Which roles get 200; the others 403: every role below is of tenant A, and each one that does not get the page
# either may never do what it does (the role gate) or sees the row but may not act on it (a migration another user
# started). A row outside one's restriction is a 404 (test_other_tenants_admin_gets_404_on_every_object_page).
ADMIN_ONLY = {"environment-edit", "environment-delete", "region-delete"}
ADMIN_AND_AUDITOR = {"permissions-tab", "regions", "vmimport-role", "audit-log", "users", "user-edit", "group-edit",
                     "settings"}
EVERYONE_VIEWING = {"home", "environment", "migrations-tab", "migration-rows", "instances-tab", "templates-tab",
                    "instance", "vms"}
OPERATORS = {"migrate-dialog"}  # admins and users (a user without a grant gets the ask-your-administrator text)
STARTER_AND_ADMIN = {"migration-cancel"}


def expected(page, role):
    if page in ADMIN_ONLY:
        return 200 if role == "admin" else 403
    if page in ADMIN_AND_AUDITOR:
        return 200 if role in ("admin", "auditor") else 403
    if page in OPERATORS:
        return 200 if role in ("admin", "user_general", "user_ro") else 403
    if page in STARTER_AND_ADMIN:
        return 200 if role in ("admin", "user_general") else 403
    return 200


ROLES = ("admin", "auditor", "user_general", "user_ro")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role(world, role):
    client = _client(getattr(world.a, role))
    for name, url in pages(world).items():
        response = client.get(url)
        assert response.status_code == expected(name, role), (name, role, response.status_code)


def test_other_tenants_admin_gets_404_on_every_object_page(world):
    client = _client(world.b.admin)
    for name, url in pages(world).items():
        if re.search(r"/\d+/", url):
            assert client.get(url).status_code == 404, name


POST_FORM = re.compile(r'<form[^>]*method="post"[^>]*>', re.IGNORECASE)


def test_auditor_sees_admin_pages_without_any_changing_form(world):
    client = _client(world.a.auditor)
    for name, url in pages(world).items():
        response = client.get(url)
        if response.status_code != 200:
            continue
        html = response.content.decode()
        forms = [f for f in POST_FORM.findall(html) if "logout" not in f]
        assert not forms, (name, forms)
        for word in ("Sync from AWS", "Delete", "Cancel migration", "Migrate VM to EC2", "Save", ">Start<"):
            assert word not in html, (name, word)


def test_tenant_and_role_are_always_shown(world):
    html = _client(world.a.user_general).get(reverse("ui:home")).content.decode()
    assert "Tenant acme" in html and "User" in html


def test_dashboard_tree_links_instances_and_templates(world):
    a = world.a
    html = _client(a.admin).get(reverse("ui:home")).content.decode()
    assert reverse("ui:environment-instances", args=[a.environment.pk]) in html
    assert reverse("ui:environment-templates", args=[a.environment.pk]) in html
    assert "globex" not in html


def test_environment_tabs(world):
    a = world.a
    html = _client(a.admin).get(reverse("ui:environment", args=[a.environment.pk])).content.decode()
    for label in ("Summary", "VM-to-EC2 Migrations", "Instances", "Templates", "Permissions"):
        assert f">{label}</a>" in html, label
    user_html = _client(a.user_general).get(reverse("ui:environment", args=[a.environment.pk])).content.decode()
    assert ">Permissions</a>" not in user_html


def test_migration_rows_poll_while_running_and_stop_after(world):
    a = world.a
    client = _client(a.user_general)
    url = reverse("ui:migration-rows", args=[a.environment.pk])
    html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every' in html and "web01" in html and "Queue position 1" in html
    MigrationTask.objects.filter(pk=a.migration.pk).update(state="completed")
    html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in html and 'data-polling="off"' in html


def test_cancel_shows_only_for_starter_and_admin_and_asks_first(world):
    a = world.a
    tab = reverse("ui:environment-panel", args=[a.environment.pk, "vm-to-ec2-migrations"])
    cancel = reverse("ui:migration-cancel", args=[a.migration.pk])
    assert cancel in _client(a.user_general).get(tab).content.decode()
    assert cancel in _client(a.admin).get(tab).content.decode()
    assert cancel not in _client(a.user_owner).get(tab).content.decode()
    client = _client(a.user_general)
    confirm = client.get(cancel).content.decode()
    assert "Yes, cancel migration" in confirm
    assert MigrationTask.objects.get(pk=a.migration.pk).state == "queued"  # asking changes nothing
    assert client.post(cancel).status_code == 302
    assert MigrationTask.objects.get(pk=a.migration.pk).state == "cancelled"
    # The owner sees the migration but did not start it: refused (403), as the API refuses it.
    assert _client(a.user_owner).post(cancel).status_code == 403


def test_admin_creates_renames_and_deletes_with_confirmation(world):
    a = world.a
    client = _client(a.admin)
    response = client.post(reverse("ui:regions"), {"form": "region", "region-code": "eu-west-1", "region-name": "EU"})
    assert response.status_code == 302
    region = Region.objects.get(tenant=a.tenant, code="eu-west-1")
    response = client.post(reverse("ui:regions"), {"form": "environment", "environment-region": region.pk,
                                                   "environment-name": "staging", "environment-vpc_id": "nope"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="staging"' in html and "errorlist" in html  # input kept, error beside the field
    response = client.post(reverse("ui:regions"), {"form": "environment", "environment-region": region.pk,
                                                   "environment-name": "staging",
                                                   "environment-vpc_id": "vpc-0123456789abcdef0"})
    assert response.status_code == 302
    env = Environment.objects.get(tenant=a.tenant, name="staging")
    response = client.post(reverse("ui:environment-edit", args=[env.pk]),
                           {"name": "staging2", "vpc_id": env.vpc_id, "description": ""})
    assert response.status_code == 302
    env.refresh_from_db()
    assert env.name == "staging2"
    assert "Yes, delete" in client.get(reverse("ui:environment-delete", args=[env.pk])).content.decode()
    assert Environment.objects.filter(pk=env.pk).exists()
    assert client.post(reverse("ui:environment-delete", args=[env.pk])).status_code == 302
    assert not Environment.objects.filter(pk=env.pk).exists()


def test_sync_without_aws_says_why(world):
    a = world.a
    response = _client(a.admin).post(reverse("ui:environment-sync", args=[a.environment.pk]), follow=True)
    assert "Sync failed" in response.content.decode()


def test_users_create_deactivate_and_reset(world):
    a = world.a
    client = _client(a.admin)
    response = client.post(reverse("ui:users"), {"form": "user", "user-username": "carol", "user-role": "user",
                                                 "user-password": "short"})
    assert response.status_code == 200 and 'value="carol"' in response.content.decode()
    response = client.post(reverse("ui:users"), {"form": "user", "user-username": "carol", "user-role": "user",
                                                 "user-password": "a-long-enough-Passw0rd"})
    assert response.status_code == 302
    carol = User.objects.get(username="carol")
    response = client.post(reverse("ui:user-edit", args=[carol.pk]), {"role": "user", "is_active": "",
                                                                      "password": "another-long-Passw0rd"})
    assert response.status_code == 302
    carol.refresh_from_db()
    assert not carol.is_active and carol.check_password("another-long-Passw0rd")


def test_settings_keep_secrets_write_only_and_show_external_id(world):
    a = world.a
    client = _client(a.admin)
    html = client.get(reverse("ui:settings")).content.decode()
    assert a.tenant.aws_account.external_id in html
    response = client.post(reverse("ui:settings"), {
        "form": "vcenter", "vc-url": "https://vcenter.example.com/sdk",
        "vc-verify_tls": "on", "vc-ignore_esx_certificate_errors": "on", "vc-connector_updating": "on"})
    assert response.status_code == 302
    html = client.get(reverse("ui:settings")).content.decode()
    assert "ESX certificate errors are ignored" in html
    checks = client.post(reverse("ui:connection-test"), HTTP_HX_REQUEST="true").content.decode()
    assert "vCenter:</strong> does not work" in checks and "AWS us-east-1:</strong> does not work" in checks


def test_audit_log_filters_pages_and_csv(world):
    a = world.a
    client = _client(a.auditor)
    html = client.get(reverse("ui:audit-log"), {"action": "environment.grant"}).content.decode()
    # The cells show the code, as the CSV does (the filter's options show it too, beside the label).
    assert 'title="Environment role granted">environment.grant</span>' in html and ">region.create</span>" not in html
    response = client.get(reverse("ui:audit-log"), {"action": "environment.grant", "format": "csv"})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "created_at" and all(r[2].startswith("environment.grant") for r in rows[1:]) and rows[1:]
    assert not any("globex" in ",".join(r) for r in rows)
    total = AuditLog.objects.filter(tenant=a.tenant).count()
    _grow(world, 0, 8)
    assert AuditLog.objects.filter(tenant=a.tenant).count() > total
    html = client.get(reverse("ui:audit-log")).content.decode()
    assert "page=2" in html


def test_friendly_404(world, settings):
    settings.DEBUG = False
    response = _client(world.a.user_ro).get("/no/such/page/")
    assert response.status_code == 404 and b"Page not found" in response.content


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


BUDGET = 30


@pytest.mark.parametrize("role", ["admin", "user_general", "auditor"])
def test_page_query_counts_do_not_grow_with_rows(world, role):
    client = _client(getattr(world.a, role))
    _grow(world, 0, 2)
    urls = {name: url for name, url in pages(world).items() if expected(name, role) == 200}
    small = {name: _queries(client, url) for name, url in urls.items()}
    _grow(world, 2, 12)
    large = {name: _queries(client, url) for name, url in urls.items()}
    for name in urls:
        assert large[name] <= small[name] + 1, f"{name}: {small[name]} queries, then {large[name]}"
        assert large[name] <= BUDGET, f"{name}: {large[name]} queries"
