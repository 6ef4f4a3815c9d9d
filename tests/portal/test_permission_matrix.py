"""Every API endpoint x every kind of caller, generated from the URL resolver.

A new endpoint without a row here fails `test_every_endpoint_has_a_row`; every row is then replayed as each
caller inside a rolled-back savepoint and the status codes must match exactly."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.matrix import answers_by_role, assert_one_row_each, differences
from tests.world import PASSWORD, ROLES, actor

A_ = "anonymous platform other_admin user_nogrant user_ro user_general user_owner admin auditor".split()
assert tuple(A_) == ROLES


def row(codes: str) -> dict[str, int]:
    return dict(zip(ROLES, (int(c) for c in codes.split())))


#                  anon plat othA  nog   ro    gen   own   adm   aud
MEMBERS_READ = row("401 403  200   200   200   200   200   200   200")
ADMIN_ONLY_LIST = row("401 403  200   403   403   403   403   200   403")
ADMIN_ONLY_CREATE = row("401 403  201   403   403   403   403   201   403")
ADMIN_ONLY_DETAIL = row("401 403  404   403   403   403   403   200   403")
ADMIN_ONLY_DELETE = row("401 403  404   403   403   403   403   204   403")
ENV_SCOPED_DETAIL = row("401 403  404   404   200   200   200   200   200")
OWNER_CHANGE = row("401 403  404   404   404   404   200   200   403")
OWNER_DELETE = row("401 403  404   404   404   404   204   204   403")
PLATFORM_ONLY = row("401 200  403   403   403   403   403   403   403")
ADMIN_AUDITOR_LIST = row("401 403  200   403   403   403   403   200   200")
ADMIN_AUDITOR_DETAIL = row("401 403  404   403   403   403   403   200   200")
# Auditors read the tenant's people (users, groups) and core peer settings (vCenter, AWS account), never a secret
# (tests/ui/test_auditor_pages.py), and change none of them: reads for administrators and auditors, writes for
# administrators only. The export configuration is read alike; the vmimport role's check and fix (it calls IAM
# with the tenant's credentials) stay administrators' only.
TENANT_SETTINGS = row("401 403  200   403   403   403   403   200   403")
TENANT_SETTINGS_READ = ADMIN_AUDITOR_LIST
TENANT_SETTINGS_WRITE = TENANT_SETTINGS
# An endpoint only a connector agent's signed request passes: a person (with a session or token) is refused.
AGENTS_ONLY = row("401 403  403   403   403   403   403   403   403")
OPERATE = row("401 403  404   404   404   200   200   200   403")
PLAN_OWNER = row("401 403  404   404   404   200   404   200   403")
PLAN_OWNER_409 = row("401 403  404   404   404   409   404   409   403")


def _token_body(w, role):
    user = actor(w, role)
    return {"username": user.username if user else "nobody", "password": PASSWORD}


def _template_body(w, role):
    a = w.a
    # An image of tenant A's region in the sandbox (NEEDS_IMAGE): saving a template checks that it exists.
    return {"environment": a.environment.pk, "name": "new-template", "ami_id": w.a.image_id,
            "instance_type": "t3.small", "subnet": a.subnet.pk, "security_group": a.security_group.pk}


def _backup_template_body(w, role):
    a = w.a
    return {"name": "from-backup", "instance_type": "t3.small", "subnet": a.subnet.pk,
            "security_group": a.security_group.pk}


def _world_webhook(w):
    from core.notifications.models import Webhook

    return Webhook.objects.get_or_create(tenant=w.a.tenant, name="world-hook", defaults={
        "url": "http://127.0.0.1:9/hook?token=world-t0ken", "secret": "whsec_world", "events": ["migration.failed"],
        "created_by": w.a.admin})[0]


def _world_delivery(w):
    from core.notifications.models import WebhookDelivery

    return WebhookDelivery.objects.get_or_create(
        tenant=w.a.tenant, webhook=_world_webhook(w), event="migration.failed", job_kind="migration",
        job_id=w.a.migration.pk, defaults={"payload": "{}", "state": "failed"})[0]


# (route name, method) -> (url kwargs from the world, request body from the world and role, expected per role)
MATRIX = {
    ("auth-token", "POST"): (None, _token_body, row("400 200 200 200 200 200 200 200 200")),
    ("me", "GET"): (None, None, row("401 200 200 200 200 200 200 200 200")),
    ("api-root", "GET"): (None, None, MEMBERS_READ),
    ("settings-aws", "GET"): (None, None, TENANT_SETTINGS_READ),
    ("settings-aws", "PUT"): (None, lambda w, r: {"account_id": "123456789012"}, TENANT_SETTINGS_WRITE),
    ("settings-vcenter", "GET"): (None, None, TENANT_SETTINGS_READ),
    ("settings-vcenter", "PUT"): (None, lambda w, r: {"url": "https://vc.example.com/sdk"},
                                  TENANT_SETTINGS_WRITE),
    ("tenant-list", "GET"): (None, None, PLATFORM_ONLY),
    ("tenant-list", "POST"): (None, lambda w, r: {"name": "Initech"}, row("401 201 403 403 403 403 403 403 403")),
    ("tenant-detail", "GET"): (lambda w: {"pk": w.a.tenant.pk}, None, PLATFORM_ONLY),
    ("tenant-detail", "PATCH"): (lambda w: {"pk": w.a.tenant.pk}, lambda w, r: {"name": "Acme 2"}, PLATFORM_ONLY),
    ("user-list", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    ("user-list", "POST"): (None, lambda w, r: {"username": "new-person", "password": PASSWORD, "role": "user"},
                            ADMIN_ONLY_CREATE),
    ("user-detail", "GET"): (lambda w: {"pk": w.a.user_general.pk}, None, ADMIN_AUDITOR_DETAIL),
    ("user-detail", "PATCH"): (lambda w: {"pk": w.a.user_general.pk}, lambda w, r: {"first_name": "Gen"},
                               ADMIN_ONLY_DETAIL),
    ("group-list", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    ("group-list", "POST"): (None, lambda w, r: {"name": "new-group"}, ADMIN_ONLY_CREATE),
    ("group-detail", "GET"): (lambda w: {"pk": w.a.group.pk}, None, ADMIN_AUDITOR_DETAIL),
    ("group-detail", "PATCH"): (lambda w: {"pk": w.a.group.pk}, lambda w, r: {"name": "ops"}, ADMIN_ONLY_DETAIL),
    ("group-detail", "DELETE"): (lambda w: {"pk": w.a.group.pk}, None, ADMIN_ONLY_DELETE),
    ("auditlog-list", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    ("auditlog-detail", "GET"): (lambda w: {"pk": w.a.audit_row.pk}, None, ADMIN_AUDITOR_DETAIL),
    ("region-list", "GET"): (None, None, MEMBERS_READ),
    ("region-list", "POST"): (None, lambda w, r: {"code": "eu-west-1"}, ADMIN_ONLY_CREATE),
    ("region-detail", "GET"): (lambda w: {"pk": w.a.region.pk}, None, ENV_SCOPED_DETAIL),
    # The region still holds an imported instance, so even its administrator gets a 409, never a cascade.
    ("region-detail", "DELETE"): (lambda w: {"pk": w.a.region.pk}, None, row("401 403 404 403 403 403 403 409 403")),
    ("environment-list", "GET"): (None, None, MEMBERS_READ),
    ("environment-list", "POST"): (
        None, lambda w, r: {"region": w.a.region.pk, "name": "qa", "vpc_id": "vpc-0ccccccccccccccc1"},
        # Tenant B's administrator names tenant A's region: it does not exist for them (400 on the field).
        row("401 403 400 403 403 403 403 201 403")),
    ("environment-detail", "GET"): (lambda w: {"pk": w.a.environment.pk}, None, ENV_SCOPED_DETAIL),
    ("environment-detail", "PATCH"): (lambda w: {"pk": w.a.environment.pk}, lambda w, r: {"description": "x"},
                                      ADMIN_ONLY_DETAIL),
    ("environment-detail", "DELETE"): (lambda w: {"pk": w.a.other_environment.pk}, None, ADMIN_ONLY_DELETE),
    ("environment-sync", "POST"): (lambda w: {"pk": w.a.default_environment.pk}, None, ADMIN_ONLY_DETAIL),
    ("environment-permissions", "GET"): (lambda w: {"pk": w.a.environment.pk}, None, ADMIN_AUDITOR_DETAIL),
    ("environment-permissions", "POST"): (
        lambda w: {"pk": w.a.environment.pk}, lambda w, r: {"user": w.a.user_nogrant.pk, "role": "read_only"},
        ADMIN_ONLY_DETAIL),
    ("environment-revoke", "DELETE"): (
        lambda w: {"pk": w.a.environment.pk, "principal_type": "user", "principal_id": w.a.user_ro.pk}, None,
        ADMIN_ONLY_DELETE),
    ("template-list", "GET"): (None, None, MEMBERS_READ),
    ("template-list", "POST"): (None, _template_body, row("401 403 400 400 400 400 201 201 403")),
    ("template-detail", "GET"): (lambda w: {"pk": w.a.template.pk}, None, ENV_SCOPED_DETAIL),
    ("template-detail", "PATCH"): (lambda w: {"pk": w.a.template.pk}, lambda w, r: {"description": "x"},
                                   OWNER_CHANGE),
    ("template-detail", "DELETE"): (lambda w: {"pk": w.a.template.pk}, None, OWNER_DELETE),
    ("instance-list", "GET"): (None, None, MEMBERS_READ),
    ("instance-start", "POST"): (lambda w: {"pk": w.a.instance.pk}, None, OPERATE),
    ("instance-stop", "POST"): (lambda w: {"pk": w.a.instance.pk}, None, OPERATE),
    ("instance-reboot", "POST"): (lambda w: {"pk": w.a.instance.pk}, None, OPERATE),
    # Tenant B's administrator may operate in B, so A's environment is merely "not found"; users with no
    # "general" grant anywhere are told to ask an administrator (403).
    ("import-tokens", "POST"): (None, lambda w, r: {"environment": w.a.environment.pk, "vm": "vm-40"},
                                row("401 403 404 403 403 201 201 201 403")),
    ("migration-list", "GET"): (None, None, MEMBERS_READ),
    # A token that does not verify is refused before anything else is looked at.
    ("migration-list", "POST"): (None, lambda w, r: {
        "token": "forged", "vm": "vm-40", "environment": w.a.environment.pk, "operating_system": "ubuntu-22.04",
        "instance_type": "t3.micro", "subnet": w.a.subnet.pk, "security_group": w.a.security_group.pk},
        row("401 403 403 403 403 403 403 403 403")),
    ("migration-detail", "GET"): (lambda w: {"pk": w.a.migration.pk}, None, ENV_SCOPED_DETAIL),
    # Migration plans: seen like their environment; changed, started and cancelled by their creator (user_general)
    # or an administrator. The world has no vCenter or AWS: validation answers with the plan's problems, a start
    # is refused as invalid (409), adding VMs (which reads vCenter) is refused as not configured (409).
    ("plan-list", "GET"): (None, None, MEMBERS_READ),
    ("plan-list", "POST"): (None, lambda w, r: {"environment": w.a.environment.pk, "name": "new-plan"},
                            row("401 403 400 400 400 201 201 201 403")),
    ("plan-detail", "GET"): (lambda w: {"pk": w.a.plan.pk}, None, ENV_SCOPED_DETAIL),
    ("plan-detail", "PATCH"): (lambda w: {"pk": w.a.plan.pk}, lambda w, r: {"description": "x"}, PLAN_OWNER),
    ("plan-detail", "DELETE"): (lambda w: {"pk": w.a.plan.pk}, None, row("401 403 404 404 404 204 404 204 403")),
    ("plan-validate", "POST"): (lambda w: {"pk": w.a.plan.pk}, None, PLAN_OWNER),
    ("plan-start", "POST"): (lambda w: {"pk": w.a.plan.pk}, lambda w, r: {}, PLAN_OWNER_409),
    ("plan-retry-failed", "POST"): (lambda w: {"pk": w.a.plan.pk}, lambda w, r: {}, PLAN_OWNER_409),
    ("plan-cancel", "POST"): (lambda w: {"pk": w.a.plan.pk}, None, PLAN_OWNER),
    ("plan-vms", "POST"): (lambda w: {"pk": w.a.plan.pk}, lambda w, r: {"vms": [{"vm": "vm-40"}]}, PLAN_OWNER_409),
    ("plan-waves", "POST"): (lambda w: {"pk": w.a.plan.pk}, lambda w, r: {"number": 2, "start_at": None},
                             PLAN_OWNER),
    ("plan-import-csv", "POST"): (lambda w: {"pk": w.a.plan.pk}, lambda w, r: {"csv": "vm\nvm-40\n"},
                                  PLAN_OWNER_409),
    ("plan-export", "GET"): (lambda w: {"pk": w.a.plan.pk}, None, ENV_SCOPED_DETAIL),
    ("plan-vm-list", "GET"): (None, None, MEMBERS_READ),
    ("plan-vm-detail", "GET"): (lambda w: {"pk": w.a.plan_vm.pk}, None, ENV_SCOPED_DETAIL),
    ("plan-vm-detail", "PATCH"): (lambda w: {"pk": w.a.plan_vm.pk}, lambda w, r: {"instance_type": "t2.small"},
                                  PLAN_OWNER),
    ("plan-vm-detail", "DELETE"): (lambda w: {"pk": w.a.plan_vm.pk}, None, row("401 403 404 404 404 204 404 204 403")),
    # Started by user_general: others who can see it may not cancel it, administrators may.
    ("migration-cancel", "POST"): (lambda w: {"pk": w.a.migration.pk}, None, row("401 403 404 404 403 200 403 200 403")),
    # The world's tenants are served by their connector agent: tenant A's reported its VMs (NEEDS_INVENTORY),
    # tenant B's has not yet (409 with a message). Refreshing asks the agent (202); a read of how fresh it is, 200.
    ("vcenter-vms", "GET"): (None, None, row("401 403 409 403 403 200 200 200 403")),
    ("vcenter-inventory", "GET"): (None, None, row("401 403 200 403 403 200 200 200 403")),
    ("vcenter-inventory", "POST"): (None, None, row("401 403 202 403 403 202 202 202 403")),
    ("settings-vmimport-role", "GET"): (None, None, TENANT_SETTINGS),
    ("settings-vmimport-role", "POST"): (None, lambda w, r: {"region": "us-east-1"}, TENANT_SETTINGS),
    ("instance-detail", "GET"): (lambda w: {"pk": w.a.instance.pk}, None, ENV_SCOPED_DETAIL),
    # AMI backups, their schedules and launches: the general role backs up, schedules and launches; making a
    # template of a backup is the owners' (templates are). Users without the role name an instance that is not
    # there for them (400 on the field) or address rows they cannot see (404).
    ("backup-list", "GET"): (None, None, MEMBERS_READ),
    ("backup-list", "POST"): (None, lambda w, r: {"instance": w.a.instance.pk, "reboot": True},
                              row("401 403 400 400 400 201 201 201 403")),
    ("backup-detail", "GET"): (lambda w: {"pk": w.a.backup.pk}, None, ENV_SCOPED_DETAIL),
    # The world's backup is available: cancelling a finished backup answers it unchanged.
    ("backup-cancel", "POST"): (lambda w: {"pk": w.a.backup.pk}, None, OPERATE),
    ("backup-make-template", "POST"): (lambda w: {"pk": w.a.backup.pk}, _backup_template_body,
                                       row("401 403 404 404 404 404 201 201 403")),
    ("backup-schedule-list", "GET"): (None, None, MEMBERS_READ),
    ("backup-schedule-list", "POST"): (
        None, lambda w, r: {"instance": w.a.instance.pk, "cron": "30 3 * * 0", "keep_last": 4},
        row("401 403 400 400 400 201 201 201 403")),
    ("backup-schedule-detail", "GET"): (lambda w: {"pk": w.a.backup_schedule.pk}, None, ENV_SCOPED_DETAIL),
    ("backup-schedule-detail", "PATCH"): (lambda w: {"pk": w.a.backup_schedule.pk}, lambda w, r: {"keep_last": 5},
                                          OPERATE),
    ("backup-schedule-detail", "DELETE"): (lambda w: {"pk": w.a.backup_schedule.pk}, None,
                                           row("401 403 404 404 404 204 204 204 403")),
    ("launch-list", "GET"): (None, None, MEMBERS_READ),
    ("launch-detail", "GET"): (lambda w: {"pk": w.a.launch.pk}, None, ENV_SCOPED_DETAIL),
    ("template-launch", "POST"): (lambda w: {"pk": w.a.template.pk}, None, row("401 403 404 404 404 201 201 201 403")),
    # EC2-to-S3 exports: administrators configure, start, cancel and download them; auditors read the history.
    ("export-list", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    # Tenant B's administrator names tenant A's instance: it does not exist for them (400 on the field).
    ("export-list", "POST"): (None, lambda w, r: {"instance": w.a.instance.pk, "s3_prefix": "vms/"},
                              row("401 403 400 403 403 403 403 201 403")),
    ("export-detail", "GET"): (lambda w: {"pk": w.a.export.pk}, None, ADMIN_AUDITOR_DETAIL),
    # The world's export is completed: a confirmed cancel answers it unchanged.
    ("export-cancel", "POST"): (lambda w: {"pk": w.a.export.pk}, lambda w, r: {"confirm": True}, ADMIN_ONLY_DETAIL),
    ("export-download", "GET"): (lambda w: {"pk": w.a.export.pk}, None, ADMIN_ONLY_DETAIL),
    # The seven-day task history: administrators and auditors (read-only), like the audit log.
    ("history", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    # The connector's status: administrators and auditors of its tenant (read-only).
    ("connector", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    # Connector agents: administrators create, rotate and revoke them (auditors read). The agents' own endpoints
    # take no person: registration answers a bad code alike for every caller, the signed ones refuse a session.
    ("agent-list", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    ("agent-list", "POST"): (None, lambda w, r: {"name": "dc-new"}, ADMIN_ONLY_CREATE),
    ("agent-detail", "GET"): (lambda w: {"pk": w.a.agent.pk}, None, ADMIN_AUDITOR_DETAIL),
    ("agent-revoke", "POST"): (lambda w: {"pk": w.a.agent.pk}, None, ADMIN_ONLY_DETAIL),
    ("agent-rotate", "POST"): (lambda w: {"pk": w.a.agent.pk}, None, ADMIN_ONLY_DETAIL),
    ("agent-registration", "POST"): (None, lambda w, r: {"code": "vmpr_wrong", "public_key": "A" * 43},
                                     row("400 400  400   400   400   400   400   400   400")),
    ("agent-heartbeat", "POST"): (None, lambda w, r: {}, AGENTS_ONLY),
    ("agent-key-rotation", "POST"): (None, lambda w, r: {"public_key": "A" * 43}, AGENTS_ONLY),
    ("agent-inventory", "POST"): (None, lambda w, r: {"taken_at": "2026-01-01T00:00:00Z", "vms": []}, AGENTS_ONLY),
    ("agent-work", "POST"): (None, lambda w, r: {"wait": 0}, AGENTS_ONLY),
    ("agent-migration-report", "POST"): (lambda w: {"pk": w.a.migration.pk}, lambda w, r: {"epoch": 1},
                                         AGENTS_ONLY),
    ("agent-migration-exported", "POST"): (lambda w: {"pk": w.a.migration.pk}, lambda w, r: {
        "epoch": 1, "device_keys": ["d1"], "capacities": [1], "total_capacity": 1}, AGENTS_ONLY),
    ("agent-migration-disk-begin", "POST"): (lambda w: {"pk": w.a.migration.pk, "index": 0},
                                             lambda w, r: {"epoch": 1}, AGENTS_ONLY),
    ("agent-migration-disk-presign", "POST"): (lambda w: {"pk": w.a.migration.pk, "index": 0}, lambda w, r: {
        "epoch": 1, "upload_id": "u", "parts": [{"part_number": 1, "crc32": 1}]}, AGENTS_ONLY),
    ("agent-migration-disk-done", "POST"): (lambda w: {"pk": w.a.migration.pk, "index": 0}, lambda w, r: {
        "epoch": 1, "upload_id": "u", "parts": [{"part_number": 1, "etag": "e", "size": 1, "crc32": 1}]},
        AGENTS_ONLY),
    ("agent-migration-uploaded", "POST"): (lambda w: {"pk": w.a.migration.pk}, lambda w, r: {"epoch": 1},
                                           AGENTS_ONLY),
    ("agent-migration-failed", "POST"): (lambda w: {"pk": w.a.migration.pk}, lambda w, r: {
        "epoch": 1, "code": "x", "message": "m", "transient": True}, AGENTS_ONLY),
    # Health of the tenant's peers, and a job's own log lines (whoever may see the job).
    ("connector-health", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    ("migration-log", "GET"): (lambda w: {"pk": w.a.migration.pk}, None, ENV_SCOPED_DETAIL),
    # Notifications: each member's own preferences; webhooks and their deliveries are the administrators'
    # (auditors read).
    ("notification-preferences", "GET"): (None, None, MEMBERS_READ),
    ("notification-preferences", "PUT"): (None, lambda w, r: {"events": ["migration.failed"]}, MEMBERS_READ),
    ("webhook-list", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    ("webhook-list", "POST"): (None, lambda w, r: {"name": "new-hook", "url": "http://127.0.0.1:9/new",
                                                   "events": ["export.failed"]}, ADMIN_ONLY_CREATE),
    ("webhook-detail", "GET"): (lambda w: {"pk": _world_webhook(w).pk}, None, ADMIN_AUDITOR_DETAIL),
    ("webhook-detail", "PATCH"): (lambda w: {"pk": _world_webhook(w).pk}, lambda w, r: {"is_active": False},
                                  ADMIN_ONLY_DETAIL),
    ("webhook-detail", "DELETE"): (lambda w: {"pk": _world_webhook(w).pk}, None, ADMIN_ONLY_DELETE),
    ("webhook-delivery-list", "GET"): (None, None, ADMIN_AUDITOR_LIST),
    ("webhook-delivery-detail", "GET"): (lambda w: {"pk": _world_delivery(w).pk}, None, ADMIN_AUDITOR_DETAIL),
    ("webhook-delivery-resend", "POST"): (lambda w: {"pk": _world_delivery(w).pk}, None,
                                          row("401 403  404   403   403   403   403   202   403")),
    ("settings-export", "GET"): (None, None, TENANT_SETTINGS_READ),
    # Each tenant saves its own export name again, which re-applies its buckets' settings.
    ("settings-export", "PUT"): (None, lambda w, r: {"name": "world-globex" if r == "other_admin" else "world-acme",
                                                     "consent": True}, TENANT_SETTINGS),
}

NEEDS_AWS = {("environment-sync", "POST"), ("instance-start", "POST"), ("instance-stop", "POST"),
             ("instance-reboot", "POST"), ("settings-vmimport-role", "GET"),
             ("settings-vmimport-role", "POST"),
             ("export-download", "GET"), ("settings-export", "PUT")}
NEEDS_INVENTORY = {("vcenter-vms", "GET")}
NEEDS_IMAGE = {("template-list", "POST")}


def discovered_endpoints() -> set[tuple[str, str]]:
    """(route name, HTTP method) for every route under api/v1/, read from the URL resolver."""
    found = set()

    def walk(patterns, prefix, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/v1/") and p.name:
                callback = p.callback
                view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
                allowed = {m.upper() for m in view_class.http_method_names} - {"HEAD", "OPTIONS"}
                actions = getattr(callback, "actions", None)
                methods = {m.upper() for m in actions} if actions else \
                    {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)}
                for method in methods & allowed:
                    found.add((p.name, method))

    walk(get_resolver().url_patterns, "", None)
    return found


def test_every_endpoint_has_a_row():
    assert_one_row_each(discovered_endpoints(), MATRIX, "endpoints", at_least=30)


@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[1]} {e[0]}")
def test_endpoint_answers_each_caller_as_expected(endpoint, world, api, request):
    name, method = endpoint
    kwargs_of, body_of, expected = MATRIX[endpoint]
    if endpoint in NEEDS_AWS:
        configure = request.getfixturevalue("aws_tenant_account")
        for tenant in (world.a, world.b):
            configure(tenant.tenant)
        request.getfixturevalue("aws_instance_for")(world.a.instance)
    if endpoint in NEEDS_IMAGE:
        world.a.image_id = request.getfixturevalue("sandbox_image")
    if endpoint in NEEDS_INVENTORY:
        from core.connectors.services import inventory_store

        inventory_store(agent=world.a.agent, taken_at=timezone.now(), vms=[], privileges={}, principal_errors={})
    url = reverse(f"api:{name}", kwargs=kwargs_of(world) if kwargs_of else None)

    def send(role):
        client = api.as_user(actor(world, role))
        body = body_of(world, role) if body_of else None
        if name == "auth-token":
            api.force_authenticate(user=None)
        return client.generic(method, url, data=_json(body), content_type="application/json")

    got = answers_by_role(send)
    assert got == expected, f"{method} {url}: {differences(got, expected)}"


def _json(body):
    import json

    return json.dumps(body) if body is not None else ""


def test_what_each_caller_reads_of_webhooks_and_export_settings(world, api):
    """Beyond the status codes: whoever may read a webhook never gets its signing secret, and only who manages it
    gets its whole URL (auditors the scheme and host: tokens live in URLs); auditors read the export settings
    exactly as administrators do."""
    hook = _world_webhook(world)
    urls = [reverse("api:webhook-list"), reverse("api:webhook-detail", kwargs={"pk": hook.pk})]
    readers = set()
    for role in ROLES:
        client = api.as_user(actor(world, role))
        for url in urls:
            response = client.get(url)
            if response.status_code != 200:
                continue
            text = response.content.decode()
            assert "whsec_world" not in text and '"secret"' not in text, (role, url)
            if "world-hook" in text:
                readers.add(role)
                assert ("world-t0ken" in text) == (role == "admin"), (role, url)
    assert readers == {"admin", "auditor"}
    export = {role: api.as_user(actor(world, role)).get(reverse("api:settings-export")) for role in ("admin", "auditor")}
    assert export["admin"].status_code == export["auditor"].status_code == 200
    assert export["admin"].json() == export["auditor"].json()
