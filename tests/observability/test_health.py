"""Liveness, readiness and the connector's health for a tenant (against the sandbox peers)."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import TenantAwsAccount


def test_healthz_answers_without_touching_the_database(client):
    # No database fixture: pytest-django makes any query in here raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_readyz_checks_database_cache_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_fails_when_the_cache_does_not_answer(client, settings):
    # A cache that accepts writes and returns nothing, as a dead Redis behind django-redis' IGNORE_EXCEPTIONS would.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "cache": "failed", "broker": "ok"}


def _without_agents(world):
    """The world's tenants without their agents: no connector is registered."""
    from django.utils import timezone

    from core.connectors.models import Agent

    Agent.objects.filter(pk__in=[world.a.agent.pk, world.b.agent.pk]).update(revoked_at=timezone.now())


def _agent_reports(agent, *, reachable: bool, version: str = "VMware vCenter 8.0.2"):
    from django.utils import timezone

    from core.connectors.models import Agent

    Agent.objects.filter(pk=agent.pk).update(vcenter_reachable=reachable, vcenter_version=version,
                                             last_contact_at=timezone.now())


@pytest.mark.aws
def test_connector_health_reports_vcenter_version_and_aws_account(world, api, aws_tenant_account):
    aws_tenant_account(world.a.tenant)
    _agent_reports(world.a.agent, reachable=True)
    for user in (world.a.admin, world.a.auditor):
        response = api.as_user(user).get("/api/v1/health/connector/")
        assert response.status_code == 200
        checks = {c["name"]: c for c in response.json()["checks"]}
        assert checks["vcenter"]["status"] == "ok"
        assert checks["vcenter"]["detail"]["version"] == "VMware vCenter 8.0.2"
        assert checks["aws"] == {"name": "aws", "status": "ok", "detail": {"account_id": "123456789012"}}
        assert checks["agents"]["status"] == "ok"


def test_connector_health_unconfigured_and_who_may_ask(world, api):
    _without_agents(world)
    body = api.as_user(world.b.admin).get("/api/v1/health/connector/").json()
    checks = {c["name"]: c for c in body["checks"]}
    assert {name: c["status"] for name, c in checks.items()} == {
        "vcenter": "not_configured", "aws": "not_configured", "agents": "not_configured"}
    assert "only a connector reads vCenter" in checks["vcenter"]["detail"]["message"]
    for user, status in ((None, 401), (world.a.user_general, 403), (world.platform, 403)):
        assert api.as_user(user).get("/api/v1/health/connector/").status_code == status


def test_health_endpoints_need_no_login(db):
    anonymous = Client()
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").status_code == 200


# Per tenant, cached, and rate-limited (issue 20)


def test_connector_health_shows_only_the_tenants_own_agents(world, api, settings):
    """The tenant's connector agents count as in contact while one called within three report intervals; another
    tenant's agents are not a tenant's business."""
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from core.connectors.models import Agent

    now = timezone.now()
    Agent.objects.filter(pk=world.b.agent.pk).update(last_contact_at=now)

    def agents(user):
        cache.clear()  # the answer is kept per tenant; each step here asks anew
        body = api.as_user(user).get("/api/v1/health/connector/").json()
        return body, {c["name"]: c for c in body["checks"]}["agents"]

    # Tenant A's agent registered but has not called since (B's contact a moment ago is not A's).
    _, a_agents = agents(world.a.auditor)
    assert a_agents == {"name": "agents", "status": "unknown", "detail": {"agents": 1, "last_contact_at": None}}
    _, b_agents = agents(world.b.admin)
    assert b_agents["status"] == "ok" and b_agents["detail"] == {"agents": 1, "last_contact_at": now.isoformat()}
    stale = now - timedelta(seconds=3 * settings.AGENT_HEARTBEAT_SECONDS + 5)
    Agent.objects.filter(pk=world.a.agent.pk).update(last_contact_at=stale)
    assert agents(world.a.admin)[1]["status"] == "failed"
    Agent.objects.filter(pk=world.a.agent.pk).update(revoked_at=now)
    assert agents(world.a.admin)[1] == {"name": "agents", "status": "not_configured", "detail": {}}


@pytest.mark.aws
def test_connector_health_is_cached_per_tenant_and_forced_refreshes_are_rate_limited(world, api, aws_tenant_account):
    """Asking again within the cache's life reads neither the agents' reports nor STS: a peer broken behind the
    portal's back does not show until the answer expires or a refresh is forced, and forced refreshes are limited."""
    Agent = type(world.b.agent)
    Agent.objects.filter(pk=world.b.agent.pk).update(revoked_at=world.b.agent.created_at)
    aws_tenant_account(world.a.tenant)
    _agent_reports(world.a.agent, reachable=True)
    url = "/api/v1/health/connector/"
    first = api.as_user(world.a.admin).get(url).json()
    assert {c["name"]: c["status"] for c in first["checks"]}["vcenter"] == "ok"
    _agent_reports(world.a.agent, reachable=False)
    TenantAwsAccount.objects.filter(tenant=world.a.tenant).delete()
    for user in (world.a.admin, world.a.auditor):
        again = api.as_user(user).get(url).json()
        assert again == first
    # Tenant B's answer is its own, not A's cached one.
    other = api.as_user(world.b.admin).get(url).json()
    assert {c["name"]: c["status"] for c in other["checks"]}["vcenter"] == "not_configured"
    refreshed = api.as_user(world.a.admin).get(url, {"refresh": "1"})
    assert refreshed.status_code == 200
    checks = {c["name"]: c for c in refreshed.json()["checks"]}
    assert checks["vcenter"]["status"] == "failed" and checks["aws"]["status"] == "not_configured"
    limited = api.as_user(world.a.auditor).get(url, {"refresh": "1"})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0


def test_an_agent_served_tenants_vcenter_health_is_what_its_agents_report_never_a_probe(world, api, monkeypatch):
    from django.utils import timezone

    from adapters.vsphere import client as vsphere
    from core.connectors.models import Agent
    from core.models import TenantVCenter

    def no_call(*args, **kwargs):
        raise AssertionError("the portal called vCenter for an agent-served tenant")

    monkeypatch.setattr(vsphere, "session", no_call)
    monkeypatch.setattr(vsphere, "VCenterSession", no_call)
    TenantVCenter.objects.create(tenant=world.a.tenant, url="https://vcenter.example.test/sdk")
    checks = lambda: {c["name"]: c for c in api.as_user(world.a.admin).get(
        "/api/v1/health/connector/", {"refresh": "1"}).json()["checks"]}
    assert checks()["vcenter"]["status"] == "unknown"  # registered, nothing reported yet
    Agent.objects.filter(pk=world.a.agent.pk).update(vcenter_reachable=False, last_contact_at=timezone.now())
    from django.core.cache import cache

    cache.clear()
    assert checks()["vcenter"]["status"] == "failed"
    Agent.objects.filter(pk=world.a.agent.pk).update(vcenter_reachable=True, vcenter_version="VMware vCenter 8.0.2")
    cache.clear()
    vcenter = checks()["vcenter"]
    assert vcenter["status"] == "ok" and vcenter["detail"]["version"] == "VMware vCenter 8.0.2"
    assert vcenter["detail"]["source"] == "connector agent dc1"
