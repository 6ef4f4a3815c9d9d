"""The permissions page: each grant row has its own role change and Revoke (asked first), for administrators
only; auditors read the grants without them. Writes go through the audited services."""

from django.test import Client
from django.urls import reverse

from core.models import AuditLog
from environments.choices import EnvironmentRole
from environments.selectors import environment_grants


def _login(user):
    client = Client()
    client.force_login(user)
    return client


def _roles(environment):
    return {g.principal_name: g.role for g in environment_grants(environment=environment)}


def _revoke_url(a, user):
    return reverse("ui:environment-grant-revoke", args=[a.environment.pk, "user", user.pk])


def test_each_grant_row_offers_role_change_and_revoke_to_administrators(world):
    a = world.a
    page = _login(a.admin).get(reverse("ui:environment-permissions", args=[a.environment.pk])).content.decode()
    assert _revoke_url(a, a.user_general) in page
    assert f'name="principal" value="user:{a.user_general.pk}"' in page
    assert f"Change role of user {a.user_general.username}" in page
    assert 'Choose "No access" to revoke' not in page


def test_auditors_read_the_grants_without_controls(world):
    a = world.a
    page = _login(a.auditor).get(reverse("ui:environment-permissions", args=[a.environment.pk])).content.decode()
    assert "Read-only" in page and "General" in page
    assert "Revoke" not in page and "Change role" not in page and "<select" not in page


def test_revoke_asks_first_then_revokes_with_an_audit_row(world):
    a = world.a
    client = _login(a.admin)
    url = _revoke_url(a, a.user_general)
    question = client.get(url).content.decode()
    name = a.user_general.username
    assert f"Yes, revoke {name}’s access to {a.environment.region.code} / {a.environment.name}" in question
    assert "No, keep it" in question
    assert _roles(a.environment)[name] == EnvironmentRole.GENERAL  # asking changed nothing
    answer = client.post(url)
    assert answer.status_code == 302 and answer.url == reverse("ui:environment-permissions", args=[a.environment.pk])
    assert name not in _roles(a.environment)
    audit = AuditLog.objects.filter(action="environment.revoke").latest("pk")
    assert audit.actor_id == a.admin.pk and audit.detail["principal_id"] == a.user_general.pk
    # the grant is gone: its revoke page names nothing any more
    assert client.get(url).status_code == 404


def test_a_row_changes_the_role_with_an_audit_row(world):
    a = world.a
    response = _login(a.admin).post(reverse("ui:environment-permissions", args=[a.environment.pk]),
                                    {"principal": f"user:{a.user_ro.pk}", "role": EnvironmentRole.OWNER})
    assert response.status_code == 302
    assert _roles(a.environment)[a.user_ro.username] == EnvironmentRole.OWNER
    audit = AuditLog.objects.filter(action="environment.grant").latest("pk")
    assert audit.detail["principal_id"] == a.user_ro.pk and audit.detail["role"] == EnvironmentRole.OWNER


def test_non_administrators_may_not_revoke(world):
    a = world.a
    url = _revoke_url(a, a.user_general)
    for user in (a.auditor, a.user_owner, a.user_general):
        assert _login(user).get(url).status_code == 403
        assert _login(user).post(url).status_code == 403
    assert _roles(a.environment)[a.user_general.username] == EnvironmentRole.GENERAL
    assert not AuditLog.objects.filter(action="environment.revoke", detail__principal_id=a.user_general.pk).exists()


def test_revoking_someone_without_a_grant_or_of_another_tenant_is_404(world):
    a, b = world.a, world.b
    assert _login(a.admin).get(_revoke_url(a, a.user_nogrant)).status_code == 404
    assert _login(b.admin).get(_revoke_url(a, a.user_general)).status_code == 404
