"""Reads: which cluster runs a tenant's work, the capacity pool a tenant's jobs count against, and beats."""

from __future__ import annotations

from django.conf import settings

from core.connectors.models import Agent, Connector, ConnectorBeat
from core.roles import Action


def default_cluster() -> str:
    """The shared cluster's name: django-q2's Conf.PREFIX (Q_CLUSTER["name"]), where untargeted tasks go."""
    return settings.Q_CLUSTER.get("name", "default")


def cluster_for_tenant(tenant_id: int) -> str | None:
    """The connector cluster pinned to the tenant, or None for the shared default cluster."""
    return Connector.objects.filter(tenant_id=tenant_id).values_list("name", flat=True).first()


def connector_id_for_tenant(tenant_id: int) -> int | None:
    return Connector.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True).first()


def tenants_on_shared_cluster():
    """A subquery of the tenants without a connector (the shared pool's members)."""
    return Connector.objects.filter(tenant__isnull=False).values("tenant_id")


def beats_of(names) -> dict[str, ConnectorBeat]:
    return {beat.cluster: beat for beat in ConnectorBeat.objects.filter(cluster__in=set(names))}


def agent_list(*, fetched_by):
    """The caller's tenant's connector agents (administrators and auditors; Agent's restriction)."""
    return Agent.objects.restrict(fetched_by, Action.VIEW).order_by("name")


def serving_agents(tenant_id: int):
    """The tenant's agents that may work: registered and not revoked."""
    return Agent.objects.filter(tenant_id=tenant_id, revoked_at__isnull=True).exclude(public_key="")


def agents_serve(tenant_id: int) -> bool:
    """A tenant with a registered agent has its vCenter work (export and upload) done by its agents."""
    return serving_agents(tenant_id).exists()


def agent_last_contact(tenant_id: int):
    """When any of the tenant's serving agents last called the portal (None: never)."""
    return serving_agents(tenant_id).exclude(last_contact_at=None).order_by("-last_contact_at").values_list(
        "last_contact_at", flat=True).first()


def vcenter_trust_for(*, agent: Agent) -> dict | None:
    """The non-secret half of the tenant's vCenter settings, for its agent (None: the administrator set none)."""
    from core.models import TenantVCenter

    vcenter = TenantVCenter.objects.filter(tenant_id=agent.tenant_id).first()
    if vcenter is None:
        return None
    return {"url": vcenter.url, "verify_tls": vcenter.verify_tls, "ca_pem": vcenter.ca_certificate_pem,
            "thumbprint": vcenter.thumbprint, "ignore_esx_certificate_errors": vcenter.ignore_esx_certificate_errors,
            "dns_suffixes": vcenter.dns_suffix_list}


def agents_all_updating(tenant_id: int) -> bool:
    """Every agent that could take the tenant's work says it is being updated."""
    agents = serving_agents(tenant_id)
    return agents.exists() and not agents.filter(updating=False).exists()
