"""Every page route x GET and, where the page takes it, POST x every kind of caller, generated from the URL resolver:
the pages' twin of test_permission_matrix.py (the API's).

A new page route without a row here fails `test_every_page_route_has_a_row`, and one that bypasses the gate
(`core.pages.page`) fails `test_every_page_goes_through_the_gate`; every row is then replayed as each caller
inside a rolled-back savepoint and the status codes must match exactly. The codes follow the API's: 403 for a role
that may never do what the method asks (before any lookup), 404 for a row outside the caller's restriction, 403 for a
row the caller sees but may not act on; anonymous callers are sent to the login page (302), and a method the page
does not take is a 405."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.matrix import answers_by_role, assert_one_row_each, differences
from tests.portal.test_permission_matrix import row
from tests.world import PASSWORD, actor

#                     anon plat othA  nog   ro    gen   own   adm   aud
MEMBERS = row("302 403  200   200   200   200   200   200   200")
ADMIN_AUDITOR = row("302 403  200   403   403   403   403   200   200")
ADMIN_AUDITOR_ROW = row("302 403  404   403   403   403   403   200   200")
ADMIN_ROW = row("302 403  404   403   403   403   403   200   403")
ENV_SCOPED = row("302 403  404   404   200   200   200   200   200")
OWNER_ROW = row("302 403  404   404   404   404   200   200   403")
OPERATE_ROW = row("302 403  404   404   404   200   200   200   403")
PLAN_OWNER_ROW = row("302 403  404   404   404   200   404   200   403")
# A change administrators make (and another tenant's administrator makes in their own tenant), then redirected.
ADMIN_CHANGED = row("302 403  302   403   403   403   403   302   403")
# A change to one of tenant A's rows: only its administrator; another tenant's administrator does not find it.
ADMIN_ROW_CHANGED = row("302 403  404   403   403   403   403   302   403")
ADMIN_FORM_AGAIN = row("302 403  200   403   403   403   403   200   403")
OPERATED = row("302 403  404   404   404   302   302   302   403")
OWNER_CHANGED = row("302 403  404   404   404   404   302   302   403")
OPERATORS = row("302 403  200   200   200   200   200   200   403")
POST_ONLY = row("302 405  405   405   405   405   405   405   405")


def pk_of(name: str):
    """The URL kwargs naming one of tenant A's rows of the world."""
    return lambda w: {"pk": getattr(w.a, name).pk}


def _template_body(w, role):
    a = w.a
    return {"name": "web", "description": "changed", "ami_id": a.template.ami_id, "instance_type": "t3.small",
            "subnet": a.subnet.pk, "security_group": a.security_group.pk}


def _login_body(w, role):
    user = actor(w, role)
    return {"username": user.username if user else "nobody", "password": PASSWORD}


@dataclass(frozen=True)
class Page:
    """One page route: what each caller gets on GET and on POST (None: the page takes no POST), the POST's body
    from the world and the caller's role, and the URL kwargs from the world."""

    get: dict
    post: dict | None = None
    body: Callable | None = None
    at: Callable | None = None


ENVIRONMENT, INSTANCE, TEMPLATE = pk_of("environment"), pk_of("instance"), pk_of("template")

PAGES = {
    "login": Page(row("200 200 200 200 200 200 200 200 200"), row("200 302 302 302 302 302 302 302 302"),
                  body=_login_body),
    "logout": Page(row("405 405 405 405 405 405 405 405 405"), row("302 302 302 302 302 302 302 302 302")),
    # Everyone lands on the dashboard; a platform operator is sent on to the platform admin.
    "ui:home": Page(row("302 302 200 200 200 200 200 200 200")),
    "ui:audit-log": Page(ADMIN_AUDITOR),
    "ui:history": Page(ADMIN_AUDITOR),
    # A new agent is shown in place (its registration code, this once), not redirected.
    "ui:connector": Page(ADMIN_AUDITOR, ADMIN_FORM_AGAIN, body=lambda w, r: {"form": "add", "agent-name": "dc2"}),
    "ui:agent-revoke": Page(ADMIN_ROW, ADMIN_ROW_CHANGED, at=pk_of("agent")),
    "ui:connector-health": Page(ADMIN_AUDITOR),
    "ui:users": Page(ADMIN_AUDITOR, ADMIN_CHANGED, body=lambda w, r: {"form": "group", "group-name": "new-group"}),
    "ui:user-edit": Page(ADMIN_AUDITOR_ROW, ADMIN_ROW_CHANGED, at=pk_of("user_general"),
                         body=lambda w, r: {"role": "user", "is_active": "on"}),
    "ui:group-edit": Page(ADMIN_AUDITOR_ROW, ADMIN_ROW_CHANGED, at=pk_of("group"), body=lambda w, r: {"name": "ops"}),
    "ui:settings": Page(ADMIN_AUDITOR, ADMIN_CHANGED, body=lambda w, r: {
        "form": "aws", "aws-auth_mode": "access_keys", "aws-account_id": "123456789012"}),
    "ui:connection-test": Page(POST_ONLY, ADMIN_FORM_AGAIN),
    "ui:notifications": Page(MEMBERS, row("302 403 302 302 302 302 302 302 302"),
                             body=lambda w, r: {"events": ["migration.failed"]}),
    # A new webhook is shown in place (its secret, this once), not redirected.
    "ui:webhooks": Page(ADMIN_AUDITOR, ADMIN_FORM_AGAIN, body=lambda w, r: {
        "form": "add", "hook-name": "new-hook", "hook-url": "http://127.0.0.1:9/new",
        "hook-events": ["export.failed"]}),
    "ui:migration-log": Page(ENV_SCOPED, at=pk_of("migration")),
    # Environments and regions.
    "ui:regions": Page(ADMIN_AUDITOR, ADMIN_CHANGED, body=lambda w, r: {"form": "region", "region-code": "eu-west-1"}),
    # The region still holds an imported instance: its administrator is told so on the page (the API's 409).
    "ui:region-delete": Page(ADMIN_ROW, ADMIN_ROW, at=pk_of("region")),
    # The side tree: a region's environments (a region is seen through one of its environments) and the search.
    "ui:tree-region": Page(ENV_SCOPED, at=pk_of("region")),
    "ui:tree-search": Page(MEMBERS),
    "ui:environment": Page(ENV_SCOPED, at=ENVIRONMENT),
    "ui:environment-edit": Page(ADMIN_ROW, ADMIN_ROW_CHANGED, at=ENVIRONMENT, body=lambda w, r: {
        "name": "prod", "vpc_id": "vpc-0aaaaaaaaaaaaaaa1", "description": "x"}),
    "ui:environment-delete": Page(ADMIN_ROW, ADMIN_ROW_CHANGED, at=pk_of("other_environment")),
    # Without AWS the sync fails, and the administrator is sent back to the environment with the reason.
    "ui:environment-sync": Page(POST_ONLY, ADMIN_ROW_CHANGED, at=pk_of("default_environment")),
    "ui:environment-instances": Page(ENV_SCOPED, at=ENVIRONMENT),
    "ui:environment-templates": Page(ENV_SCOPED, at=ENVIRONMENT),
    "ui:environment-permissions": Page(ADMIN_AUDITOR_ROW, ADMIN_ROW_CHANGED, at=ENVIRONMENT, body=lambda w, r: {
        "principal": f"user:{w.a.user_nogrant.pk}", "role": "read_only"}),
    # Revoking one grant (user_general's): administrators only, asked first, then sent back to the permissions.
    "ui:environment-grant-revoke": Page(ADMIN_ROW, ADMIN_ROW_CHANGED, at=lambda w: {
        "pk": w.a.environment.pk, "kind": "user", "principal": w.a.user_general.pk}),
    "ui:environment-panel": Page(ENV_SCOPED, at=lambda w: {"pk": w.a.environment.pk, "key": "vm-to-ec2-migrations"}),
    # Launch templates: owners of the environment and administrators. Creating one named like the world's comes
    # back with the reason; saving it with the same image (nothing to ask AWS) succeeds.
    "ui:template-create": Page(OWNER_ROW, OWNER_ROW, at=ENVIRONMENT, body=_template_body),
    "ui:template-edit": Page(OWNER_ROW, OWNER_CHANGED, at=TEMPLATE, body=_template_body),
    "ui:template-delete": Page(OWNER_ROW, OWNER_CHANGED, at=TEMPLATE),
    # Imported instances, their backups and schedules, launches.
    "ui:instance": Page(ENV_SCOPED, at=INSTANCE),
    "ui:instance-power": Page(POST_ONLY, OPERATED, at=INSTANCE, body=lambda w, r: {"action": "start"}),
    "ui:instance-backups": Page(ENV_SCOPED, at=INSTANCE),
    "ui:instance-backup-start": Page(POST_ONLY, OPERATED, at=INSTANCE, body=lambda w, r: {"reboot": ""}),
    "ui:instance-schedule-add": Page(POST_ONLY, OPERATED, at=INSTANCE,
                                     body=lambda w, r: {"cron": "30 3 * * 0", "keep_last": "4"}),
    "ui:backup-schedule-delete": Page(POST_ONLY, OPERATED, at=pk_of("backup_schedule")),
    "ui:backup-cancel": Page(POST_ONLY, OPERATED, at=pk_of("backup")),
    "ui:backup-make-template": Page(OWNER_ROW, OWNER_CHANGED, at=pk_of("backup"),
                                    body=lambda w, r: {**_template_body(w, r), "name": "from-backup"}),
    "ui:environment-launches": Page(ENV_SCOPED, at=ENVIRONMENT),
    "ui:template-launch": Page(OPERATE_ROW, OPERATED, at=TEMPLATE),
    # EC2-to-S3 exports: administrators configure, start, cancel and download; auditors read the configuration.
    "ui:export-configure": Page(ADMIN_AUDITOR, ADMIN_FORM_AGAIN,
                                body=lambda w, r: {"name": "world-acme", "action": "preview"}),
    "ui:export-start": Page(ADMIN_ROW, ADMIN_ROW_CHANGED, at=INSTANCE, body=lambda w, r: {"s3_prefix": "vms/"}),
    "ui:export-cancel": Page(ADMIN_ROW, ADMIN_ROW_CHANGED, at=pk_of("export"), body=lambda w, r: {"confirm": "on"}),
    # Without AWS there is no link: the administrator is sent back to the exports tab with the reason.
    "ui:export-download": Page(ADMIN_ROW_CHANGED, at=pk_of("export")),
    # The tab's live rows: whoever reads the tab (administrators and auditors), for an environment of their tenant.
    "ui:export-rows": Page(ADMIN_AUDITOR_ROW, at=ENVIRONMENT),
    # VM-to-EC2 migrations. Users without a grant anywhere get the dialog's ask-your-administrator text.
    # Refresh (POST) asks the tenant's connector agent for a fresh inventory: who may migrate somewhere (the world's
    # tenants are served by an agent); a user without such a grant gets the list back with the reason.
    "ui:vms": Page(MEMBERS, row("302 403 302 200 200 302 302 302 403")),
    "ui:migrate-dialog": Page(OPERATORS, OPERATORS, body=lambda w, r: {"environment": w.a.environment.pk}),
    "ui:migrate": Page(OPERATE_ROW, OPERATE_ROW, at=ENVIRONMENT, body=lambda w, r: {"vm": "vm-40"}),
    "ui:migration-rows": Page(ENV_SCOPED, at=ENVIRONMENT),
    # Started by user_general: who sees it but did not start it is refused (403), as by the API.
    "ui:migration-cancel": Page(row("302 403 404 404 403 200 403 200 403"), row("302 403 404 404 403 302 403 302 403"),
                                at=pk_of("migration")),
    # Migration plans: seen like their environment; changed, run and cancelled by their creator (user_general) or an
    # administrator. Who may not operate the environment gets the list's form back (no such environment).
    "ui:plans": Page(MEMBERS, row("302 403 200 200 200 302 302 302 403"),
                     body=lambda w, r: {"environment": w.a.environment.pk, "name": "new-plan"}),
    "ui:plan": Page(ENV_SCOPED, PLAN_OWNER_ROW, at=pk_of("plan"), body=lambda w, r: {"form": "validate"}),
    "ui:plan-rows": Page(ENV_SCOPED, at=pk_of("plan")),
    "ui:plan-export": Page(ENV_SCOPED, at=pk_of("plan")),
    "ui:plan-cancel": Page(PLAN_OWNER_ROW, row("302 403 404 404 404 302 404 302 403"), at=pk_of("plan")),
    # Fix Error without the consent ticked: the form comes back.
    "ui:vmimport-role": Page(ADMIN_AUDITOR, ADMIN_FORM_AGAIN),
}

# (route name, method) -> (URL kwargs from the world, POST body from the world and role, expected per role)
MATRIX = {(name, method): (page.at, page.body, expected) for name, page in PAGES.items()
          for method, expected in (("GET", page.get), ("POST", page.post)) if expected is not None}

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
    assert_one_row_each(discovered_page_routes(), MATRIX, "page routes", at_least=60)


def test_every_page_goes_through_the_gate():
    ungated = sorted(name for name, _, callback in _page_patterns()
                     if name.startswith("ui:") and name not in UNGATED and not hasattr(callback, "page_needs"))
    assert len(_page_patterns()) > 40
    assert not ungated, f"pages that do not declare their Need with core.pages.page: {ungated}"


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[1]} {r[0]}")
def test_page_answers_each_caller_as_expected(route, world):
    name, method = route
    kwargs_of, body_of, expected = MATRIX[route]
    url = reverse(name, kwargs=kwargs_of(world) if kwargs_of else None)

    def send(role):
        client = Client()
        user = actor(world, role)
        if user is not None and name != "login":
            client.force_login(user)
        if method == "GET":
            return client.get(url)
        return client.post(url, body_of(world, role) if body_of else {})

    got = answers_by_role(send)
    assert got == expected, f"{method} {url}: {differences(got, expected)}"


def test_a_tab_the_role_may_never_read_is_refused(world):
    """The environment page's tabs are one route: the exports tab declares its own Need (administrators and
    auditors read exports), so users who see the environment are refused (403), and the environment outside one's
    restriction is still a 404."""
    url = reverse("ui:environment-panel", kwargs={"pk": world.a.environment.pk, "key": "ec2-to-s3-migrations"})

    def send(role):
        client = Client()
        if actor(world, role) is not None:
            client.force_login(actor(world, role))
        return client.get(url)

    expected = row("302 403 404 404 403 403 403 200 200")
    got = answers_by_role(send)
    assert got == expected, differences(got, expected)
