"""Every page route x GET and, where the page takes it, POST x every kind of caller, generated from the URL resolver:
the pages' twin of test_permission_matrix.py (the API's).

A new page route without a row here fails `test_every_page_route_has_a_row`, and one that bypasses the gate
(`portal.core.pages.page`) fails `test_every_page_goes_through_the_gate`; every row is then replayed as each caller
inside a rolled-back savepoint and the status codes must match exactly. The codes follow the API's: 403 for a role
that may never do what the method asks (before any lookup), 404 for a row outside the caller's restriction, 403 for a
row the caller sees but may not act on; anonymous callers are sent to the login page (302), and a method the page
does not take is a 405."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.portal.test_permission_matrix import row
from tests.world import PASSWORD, ROLES, actor

#                     anon plat othA  nog   ro    gen   own   adm   aud
MEMBERS = row("302 403  200   200   200   200   200   200   200")
ADMIN_AUDITOR = row("302 403  200   403   403   403   403   200   200")
ADMIN_AUDITOR_ROW = row("302 403  404   403   403   403   403   200   200")
ADMIN_ROW = row("302 403  404   403   403   403   403   200   403")
ENV_SCOPED = row("302 403  404   404   200   200   200   200   200")
OWNER_ROW = row("302 403  404   404   404   404   200   200   403")
OPERATE_ROW = row("302 403  404   404   404   200   200   200   403")
# A change administrators make (and another tenant's administrator makes in their own tenant), then redirected.
ADMIN_CHANGED = row("302 403  302   403   403   403   403   302   403")
# A change to one of tenant A's rows: only its administrator; another tenant's administrator does not find it.
ADMIN_ROW_CHANGED = row("302 403  404   403   403   403   403   302   403")
ADMIN_FORM_AGAIN = row("302 403  200   403   403   403   403   200   403")
OPERATED = row("302 403  404   404   404   302   302   302   403")
POST_ONLY = row("302 405  405   405   405   405   405   405   405")


def _env(w):
    return {"pk": w.a.environment.pk}


def _instance(w):
    return {"pk": w.a.instance.pk}


def _template(w):
    return {"pk": w.a.template.pk}


def _template_body(w, role):
    a = w.a
    return {"name": "web", "description": "changed", "ami_id": a.template.ami_id, "instance_type": "t3.small",
            "subnet": a.subnet.pk, "security_group": a.security_group.pk}


def _login_body(w, role):
    user = actor(w, role)
    return {"username": user.username if user else "nobody", "password": PASSWORD}


# (route name, method) -> (URL kwargs from the world, POST body from the world and role, expected per role)
MATRIX = {
    ("login", "GET"): (None, None, row("200 200 200 200 200 200 200 200 200")),
    ("login", "POST"): (None, _login_body, row("200 302 302 302 302 302 302 302 302")),
    ("logout", "GET"): (None, None, row("405 405 405 405 405 405 405 405 405")),
    ("logout", "POST"): (None, None, row("302 302 302 302 302 302 302 302 302")),
    # Everyone lands on the dashboard; a platform operator is sent on to the platform admin.
    ("ui:home", "GET"): (None, None, row("302 302 200 200 200 200 200 200 200")),
    ("ui:audit-log", "GET"): (None, None, ADMIN_AUDITOR),
    ("ui:history", "GET"): (None, None, ADMIN_AUDITOR),
    ("ui:connector", "GET"): (None, None, ADMIN_AUDITOR),
    ("ui:connector-health", "GET"): (None, None, ADMIN_AUDITOR),
    ("ui:users", "GET"): (None, None, ADMIN_AUDITOR),
    ("ui:users", "POST"): (None, lambda w, r: {"form": "group", "group-name": "new-group"}, ADMIN_CHANGED),
    ("ui:user-edit", "GET"): (lambda w: {"pk": w.a.user_general.pk}, None, ADMIN_AUDITOR_ROW),
    ("ui:user-edit", "POST"): (lambda w: {"pk": w.a.user_general.pk}, lambda w, r: {"role": "user", "is_active": "on"},
                               ADMIN_ROW_CHANGED),
    ("ui:group-edit", "GET"): (lambda w: {"pk": w.a.group.pk}, None, ADMIN_AUDITOR_ROW),
    ("ui:group-edit", "POST"): (lambda w: {"pk": w.a.group.pk}, lambda w, r: {"name": "ops"}, ADMIN_ROW_CHANGED),
    ("ui:settings", "GET"): (None, None, ADMIN_AUDITOR),
    ("ui:settings", "POST"): (None, lambda w, r: {"form": "aws", "aws-auth_mode": "access_keys",
                                                  "aws-account_id": "123456789012"}, ADMIN_CHANGED),
    ("ui:connection-test", "GET"): (None, None, POST_ONLY),
    ("ui:connection-test", "POST"): (None, None, ADMIN_FORM_AGAIN),
    ("ui:notifications", "GET"): (None, None, MEMBERS),
    ("ui:notifications", "POST"): (None, lambda w, r: {"events": ["migration.failed"]},
                                   row("302 403 302 302 302 302 302 302 302")),
    ("ui:webhooks", "GET"): (None, None, ADMIN_AUDITOR),
    # A new webhook is shown in place (its secret, this once), not redirected.
    ("ui:webhooks", "POST"): (None, lambda w, r: {"form": "add", "hook-name": "new-hook", "hook-url": "http://127.0.0.1:9/new",
                                                  "hook-events": ["export.failed"]}, ADMIN_FORM_AGAIN),
    ("ui:migration-log", "GET"): (lambda w: {"pk": w.a.migration.pk}, None, ENV_SCOPED),
    # Environments and regions.
    ("ui:regions", "GET"): (None, None, ADMIN_AUDITOR),
    ("ui:regions", "POST"): (None, lambda w, r: {"form": "region", "region-code": "eu-west-1"}, ADMIN_CHANGED),
    ("ui:region-delete", "GET"): (lambda w: {"pk": w.a.region.pk}, None, ADMIN_ROW),
    # The region still holds an imported instance: its administrator is told so on the page (the API's 409).
    ("ui:region-delete", "POST"): (lambda w: {"pk": w.a.region.pk}, None, ADMIN_ROW),
    ("ui:environment", "GET"): (_env, None, ENV_SCOPED),
    ("ui:environment-edit", "GET"): (_env, None, ADMIN_ROW),
    ("ui:environment-edit", "POST"): (_env, lambda w, r: {"name": "prod", "vpc_id": "vpc-0aaaaaaaaaaaaaaa1",
                                                          "description": "x"}, ADMIN_ROW_CHANGED),
    ("ui:environment-delete", "GET"): (lambda w: {"pk": w.a.other_environment.pk}, None, ADMIN_ROW),
    ("ui:environment-delete", "POST"): (lambda w: {"pk": w.a.other_environment.pk}, None, ADMIN_ROW_CHANGED),
    ("ui:environment-sync", "GET"): (lambda w: {"pk": w.a.default_environment.pk}, None, POST_ONLY),
    # Without AWS the sync fails, and the administrator is sent back to the environment with the reason.
    ("ui:environment-sync", "POST"): (lambda w: {"pk": w.a.default_environment.pk}, None, ADMIN_ROW_CHANGED),
    ("ui:environment-instances", "GET"): (_env, None, ENV_SCOPED),
    ("ui:environment-templates", "GET"): (_env, None, ENV_SCOPED),
    ("ui:environment-permissions", "GET"): (_env, None, ADMIN_AUDITOR_ROW),
    ("ui:environment-permissions", "POST"): (
        _env, lambda w, r: {"principal": f"user:{w.a.user_nogrant.pk}", "role": "read_only"}, ADMIN_ROW_CHANGED),
    ("ui:environment-panel", "GET"): (lambda w: {"pk": w.a.environment.pk, "key": "vm-to-ec2-migrations"}, None,
                                      ENV_SCOPED),
    # Launch templates: owners of the environment and administrators.
    ("ui:template-create", "GET"): (_env, None, OWNER_ROW),
    # The name is taken: the form comes back with the reason.
    ("ui:template-create", "POST"): (_env, _template_body, OWNER_ROW),
    ("ui:template-edit", "GET"): (_template, None, OWNER_ROW),
    # The same image: nothing to check with AWS, saved.
    ("ui:template-edit", "POST"): (_template, _template_body, row("302 403 404 404 404 404 302 302 403")),
    ("ui:template-delete", "GET"): (_template, None, OWNER_ROW),
    ("ui:template-delete", "POST"): (_template, None, row("302 403 404 404 404 404 302 302 403")),
    # Imported instances, their backups and schedules, launches.
    ("ui:instance", "GET"): (_instance, None, ENV_SCOPED),
    ("ui:instance-power", "GET"): (_instance, None, POST_ONLY),
    ("ui:instance-power", "POST"): (_instance, lambda w, r: {"action": "start"}, OPERATED),
    ("ui:instance-backups", "GET"): (_instance, None, ENV_SCOPED),
    ("ui:instance-backup-start", "GET"): (_instance, None, POST_ONLY),
    ("ui:instance-backup-start", "POST"): (_instance, lambda w, r: {"reboot": ""}, OPERATED),
    ("ui:instance-schedule-add", "GET"): (_instance, None, POST_ONLY),
    ("ui:instance-schedule-add", "POST"): (_instance, lambda w, r: {"cron": "30 3 * * 0", "keep_last": "4"},
                                           OPERATED),
    ("ui:backup-schedule-delete", "GET"): (lambda w: {"pk": w.a.backup_schedule.pk}, None, POST_ONLY),
    ("ui:backup-schedule-delete", "POST"): (lambda w: {"pk": w.a.backup_schedule.pk}, None, OPERATED),
    ("ui:backup-cancel", "GET"): (lambda w: {"pk": w.a.backup.pk}, None, POST_ONLY),
    ("ui:backup-cancel", "POST"): (lambda w: {"pk": w.a.backup.pk}, None, OPERATED),
    ("ui:backup-make-template", "GET"): (lambda w: {"pk": w.a.backup.pk}, None, OWNER_ROW),
    ("ui:backup-make-template", "POST"): (lambda w: {"pk": w.a.backup.pk},
                                          lambda w, r: {**_template_body(w, r), "name": "from-backup"},
                                          row("302 403 404 404 404 404 302 302 403")),
    ("ui:environment-launches", "GET"): (_env, None, ENV_SCOPED),
    ("ui:template-launch", "GET"): (_template, None, OPERATE_ROW),
    ("ui:template-launch", "POST"): (_template, None, OPERATED),
    # EC2-to-S3 exports: administrators configure, start, cancel and download; auditors read the configuration.
    ("ui:export-configure", "GET"): (None, None, ADMIN_AUDITOR),
    ("ui:export-configure", "POST"): (None, lambda w, r: {"name": "world-acme", "action": "preview"},
                                      ADMIN_FORM_AGAIN),
    ("ui:export-start", "GET"): (_instance, None, ADMIN_ROW),
    ("ui:export-start", "POST"): (_instance, lambda w, r: {"s3_prefix": "vms/"}, ADMIN_ROW_CHANGED),
    ("ui:export-cancel", "GET"): (lambda w: {"pk": w.a.export.pk}, None, ADMIN_ROW),
    ("ui:export-cancel", "POST"): (lambda w: {"pk": w.a.export.pk}, lambda w, r: {"confirm": "on"},
                                   ADMIN_ROW_CHANGED),
    # Without AWS there is no link: the administrator is sent back to the exports tab with the reason.
    ("ui:export-download", "GET"): (lambda w: {"pk": w.a.export.pk}, None, ADMIN_ROW_CHANGED),
    # VM-to-EC2 migrations.
    ("ui:vms", "GET"): (None, None, MEMBERS),
    # Users without a grant anywhere get the ask-your-administrator text.
    ("ui:migrate-dialog", "GET"): (None, None, row("302 403 200 200 200 200 200 200 403")),
    ("ui:migrate-dialog", "POST"): (None, lambda w, r: {"environment": w.a.environment.pk},
                                    row("302 403 200 200 200 200 200 200 403")),
    ("ui:migrate", "GET"): (_env, None, OPERATE_ROW),
    ("ui:migrate", "POST"): (_env, lambda w, r: {"vm": "vm-40"}, OPERATE_ROW),
    ("ui:migration-rows", "GET"): (_env, None, ENV_SCOPED),
    # Started by user_general: who sees it but did not start it is refused (403), as by the API.
    ("ui:migration-cancel", "GET"): (lambda w: {"pk": w.a.migration.pk}, None,
                                     row("302 403 404 404 403 200 403 200 403")),
    ("ui:migration-cancel", "POST"): (lambda w: {"pk": w.a.migration.pk}, None,
                                      row("302 403 404 404 403 302 403 302 403")),
    ("ui:vmimport-role", "GET"): (None, None, ADMIN_AUDITOR),
    # Fix Error without the consent ticked: the form comes back.
    ("ui:vmimport-role", "POST"): (None, None, ADMIN_FORM_AGAIN),
}

# Not pages: operator endpoints answer every caller alike (tests/observability and tests/portal cover them).
OPERATOR_ENDPOINTS = {"healthz", "readyz", "metrics"}
# Routes outside the gate, and the methods they take.
UNGATED = {"login": {"GET", "POST"}, "logout": {"GET", "POST"}, "ui:home": {"GET"}}


def _page_patterns():
    """(full route name, path, callback) of every route outside the API and the platform admin."""

    def walk(patterns, prefix, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = ":".join(filter(None, (namespace, p.namespace)))
                yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern) and p.name:
                path = prefix + str(p.pattern)
                if not path.startswith(("api/", "platform-admin/")):
                    yield (f"{namespace}:{p.name}" if namespace else p.name), path, p.callback

    return list(walk(get_resolver().url_patterns, "", ""))


def discovered_page_routes() -> set[tuple[str, str]]:
    """(route name, method): GET for every page, POST where the page takes it (its gate says so)."""
    found = set()
    for name, _, callback in _page_patterns():
        if name in OPERATOR_ENDPOINTS:
            continue
        methods = UNGATED.get(name) or set(getattr(callback, "page_needs", {})) - {"HEAD"}
        found |= {(name, method) for method in methods | {"GET"}}
    return found


def test_every_page_route_has_a_row():
    routes = discovered_page_routes()
    assert len(routes) > 60
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, f"page routes without a permission-matrix row: {missing}"
    assert not stale, f"matrix rows for page routes that no longer exist: {stale}"


def test_every_page_goes_through_the_gate():
    ungated = sorted(name for name, _, callback in _page_patterns()
                     if name.startswith("ui:") and name not in UNGATED and not hasattr(callback, "page_needs"))
    assert len(_page_patterns()) > 40
    assert not ungated, f"pages that do not declare their Need with portal.core.pages.page: {ungated}"


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[1]} {r[0]}")
def test_page_answers_each_caller_as_expected(route, world):
    name, method = route
    kwargs_of, body_of, expected = MATRIX[route]
    url = reverse(name, kwargs=kwargs_of(world) if kwargs_of else None)
    got = {}
    for role in ROLES:
        with transaction.atomic():
            client = Client()
            user = actor(world, role)
            if user is not None and name != "login":
                client.force_login(user)
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, body_of(world, role) if body_of else {})
            got[role] = response.status_code
            transaction.set_rollback(True)
    assert got == expected, f"{method} {url}: " + ", ".join(
        f"{r}: got {got[r]} want {expected[r]}" for r in ROLES if got[r] != expected[r])
