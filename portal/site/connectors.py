"""The connector status shown to a tenant's administrators and auditors (page and API): whether the tenant's
connector agents are in contact, and how much of the tenant's work runs and waits: the jobs of the kinds
registered as `connector_work`. It reads the migrations' limits, which is why it lives in the site layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Min

from core.connectors.models import Agent
from core.connectors.selectors import agent_last_contact, agents_online, serving_agents
from core.jobs.kinds import kinds
from core.querysets import Need
from core.roles import Action
from migrations_app.admission import tenant_limit_override

# Administrators and auditors (Agent's restriction); plain users are refused.
READ_CONNECTORS = Need(Action.VIEW, of=Agent)


@dataclass(frozen=True)
class ConnectorStatus:
    agents: int
    last_contact: datetime | None
    alive: bool
    limit: int
    jobs_running: int
    queue_depth: int
    oldest_queued_at: datetime | None


def connector_status(*, fetched_by) -> ConnectorStatus | None:
    """The status of the caller's tenant's connector agents, counting only the tenant's own jobs; None when the
    caller may not read it."""
    if not READ_CONNECTORS.allows(fetched_by):
        return None
    tenant_id = fetched_by.tenant_id
    last_contact = agent_last_contact(tenant_id)
    work = [kind for kind in kinds() if kind.connector_work]
    queued = [kind.model.objects.filter(tenant_id=tenant_id, state=kind.queued) for kind in work]
    oldest = [d for d in (jobs.aggregate(d=Min("created_at"))["d"] for jobs in queued) if d is not None]
    return ConnectorStatus(
        agents=serving_agents(tenant_id).count(),
        last_contact=last_contact,
        alive=agents_online(last_contact),
        limit=tenant_limit_override(tenant_id),
        jobs_running=sum(kind.model.objects.filter(tenant_id=tenant_id, state__in=kind.active).count()
                         for kind in work),
        queue_depth=sum(jobs.count() for jobs in queued),
        oldest_queued_at=min(oldest) if oldest else None,
    )
