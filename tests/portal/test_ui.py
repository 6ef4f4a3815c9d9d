"""The server-rendered pages go through the same permission path as the API, with CSRF enforced."""

from django.test import Client
from django.urls import reverse

from environments.choices import EnvironmentRole
from environments.selectors import environment_grants
from tests.world import PASSWORD


def _login(user, csrf=False):
    client = Client(enforce_csrf_checks=csrf)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_login_page_and_redirect(db):
    client = Client()
    assert client.get(reverse("ui:home")).status_code == 302
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b"csrfmiddlewaretoken" in page.content


def test_home_lists_only_granted_environments(world):
    page = _login(world.a.user_ro).get(reverse("ui:home")).content.decode()
    assert ">prod<" in page and ">dev<" not in page and "globex" not in page
    nothing = _login(world.a.user_nogrant).get(reverse("ui:home")).content.decode()
    assert "Ask an administrator to grant you permission" in nothing


def test_environment_page_is_404_outside_the_grant(world):
    a, b = world.a, world.b
    assert _login(a.user_ro).get(reverse("ui:environment", args=[a.other_environment.pk])).status_code == 404
    assert _login(b.admin).get(reverse("ui:environment", args=[a.environment.pk])).status_code == 404
    assert _login(a.user_ro).get(reverse("ui:environment", args=[a.environment.pk])).status_code == 200


def test_admin_grants_through_the_form_with_csrf(world):
    a = world.a
    client = _login(a.admin, csrf=True)
    url = reverse("ui:environment-permissions", args=[a.environment.pk])
    form_page = client.get(url)
    token = form_page.context["csrf_token"]
    data = {"principal": f"user:{a.user_nogrant.pk}", "role": EnvironmentRole.OWNER}
    assert client.post(url, data).status_code == 403  # no CSRF token
    response = client.post(url, {**data, "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    roles = {g.principal_name: g.role for g in environment_grants(environment=a.environment)}
    assert roles["acme-nogrant"] == EnvironmentRole.OWNER


def test_grant_form_offers_only_the_tenants_users(world):
    page = _login(world.a.admin).get(reverse("ui:environment-permissions",
                                             args=[world.a.environment.pk])).content.decode()
    assert "acme-nogrant" in page and "globex" not in page


def test_users_cannot_post_grants(world):
    a = world.a
    response = _login(a.user_owner).post(reverse("ui:environment-permissions", args=[a.environment.pk]),
                                         {"principal": f"user:{a.user_owner.pk}", "role": "owner"})
    assert response.status_code == 403


def test_audit_page_for_auditors_not_users(world):
    assert b">environment.grant</span>" in _login(world.a.auditor).get(reverse("ui:audit-log")).content
    assert _login(world.a.user_owner).get(reverse("ui:audit-log")).status_code == 403


def test_api_docs_are_served_without_internet(db):
    response = Client().get(reverse("api-docs"))
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()
