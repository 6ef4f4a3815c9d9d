"""A deactivated tenant can do nothing: no login on any path, no session, no token, no command, no running job, and
the permission layer itself returns nothing for its members."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from environments.models import Environment
from migrations_app.pipeline import MigrationRunner as Runner
from core.auth import PortalModelBackend
from core.models import AuditLog, Tenant
from core.roles import Action
from tests.world import PASSWORD

DEACTIVATED = "Your organisation's account is deactivated."
DEACTIVATED_HTML = escape(DEACTIVATED)


def _deactivate(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)


def test_the_login_page_refuses_with_the_reason(world):
    _deactivate(world.a.tenant)
    client = Client()
    page = client.post(reverse("login"), {"username": "acme-ro", "password": PASSWORD})
    assert page.status_code == 200 and DEACTIVATED_HTML in page.content.decode()
    assert "_auth_user_id" not in client.session
    # Only once the password is right: a guess learns nothing about the tenant.
    page = client.post(reverse("login"), {"username": "acme-ro", "password": "wrong"})
    assert DEACTIVATED_HTML not in page.content.decode()
    assert AuditLog.objects.filter(action="auth.failed", detail__reason="tenant_inactive").count() == 1


def test_the_platform_admin_login_refuses_with_the_reason(world):
    _deactivate(world.a.tenant)
    page = Client().post(reverse("admin:login"), {"username": "acme-admin", "password": PASSWORD})
    assert page.status_code == 200 and DEACTIVATED_HTML in page.content.decode()


def test_the_token_endpoint_refuses_with_403(world, api):
    _deactivate(world.a.tenant)
    response = api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": PASSWORD}, format="json")
    assert response.status_code == 403
    assert response.json() == {"type": "client_error", "errors": [
        {"code": "permission_denied", "detail": DEACTIVATED, "attr": None}]}
    assert not AuditLog.objects.filter(action="auth.token").exists()


@pytest.mark.parametrize("route", ["api:environment-list", "api:me"])
def test_an_existing_api_token_stops_working(world, api, route):
    token = api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": PASSWORD},
                     format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get(reverse(route)).status_code == 200
    _deactivate(world.a.tenant)
    response = api.get(reverse(route))
    assert response.status_code == 403 and response.json()["errors"][0]["detail"] == DEACTIVATED


def test_an_existing_session_is_ended_on_pages_and_refused_by_the_api(world):
    client = Client()
    assert client.post(reverse("login"), {"username": "acme-ro", "password": PASSWORD}).status_code == 302
    assert client.get(reverse("ui:home")).status_code == 200
    _deactivate(world.a.tenant)
    response = client.get(reverse("api:environment-list"))
    assert response.status_code == 403 and response.json()["errors"][0]["detail"] == DEACTIVATED
    response = client.get(reverse("ui:home"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert DEACTIVATED_HTML in client.get(reverse("login")).content.decode()
    # Logged out for good: the next page asks for a login again.
    assert client.get(reverse("ui:home"))["Location"].startswith(reverse("login"))


def test_other_tenants_are_unaffected(world, api):
    _deactivate(world.a.tenant)
    assert api.post(reverse("api:auth-token"), {"username": "globex-ro", "password": PASSWORD},
                    format="json").status_code == 200
    client = Client()
    client.force_login(world.b.user_ro)
    assert client.get(reverse("ui:home")).status_code == 200


def test_restrict_returns_nothing_for_a_deactivated_tenant(world):
    user = world.a.admin
    assert Environment.objects.restrict(user, Action.VIEW).exists()
    user.tenant.is_active = False  # as a fresh load would see it
    assert not Environment.objects.restrict(user, Action.VIEW).exists()
    assert not AuditLog.objects.restrict(user, Action.VIEW).exists()


def test_restrict_costs_no_query_for_a_session_user(world, django_assert_num_queries):
    user = PortalModelBackend().get_user(world.a.user_ro.pk)
    with django_assert_num_queries(0):
        Environment.objects.restrict(user, Action.VIEW)


def test_commands_refuse_users_of_a_deactivated_tenant(world):
    _deactivate(world.a.tenant)
    with pytest.raises(CommandError, match="organisation .* is deactivated"):
        call_command("vm_migration", "list", "--user", "acme-general")


def test_running_migrations_stop_at_their_next_step(world):
    task = world.a.migration
    assert Runner.authorized(None, task)
    _deactivate(world.a.tenant)
    assert not Runner.authorized(None, task)
