"""Reads: the tenant's connector agents."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.connectors.models import Agent
from core.roles import Action


def agents_online(last_contact: datetime | None) -> bool:
    """Whether agents whose latest contact was `last_contact` count as online: one called within three report
    intervals (AGENT_HEARTBEAT_SECONDS), as a migration waiting for its connector says."""
    return last_contact is not None and timezone.now() - last_contact <= timedelta(
        seconds=3 * settings.AGENT_HEARTBEAT_SECONDS)


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
