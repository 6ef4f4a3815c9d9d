"""The connector status shown to a tenant's administrators and auditors (page and API): which cluster runs the
tenant's vCenter work, whether it is alive, and how much of the tenant's work runs and waits there: the jobs of
the kinds registered as `connector_work`. It reads the migrations' limits, which is why it lives in the site layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Min
from django.utils import timezone

from core.connectors.models import Connector
from core.connectors.selectors import beats_of, default_cluster
from core.jobs.kinds import kinds
from core.querysets import Need
from core.roles import Action
from migrations_app.admission import connector_limit, tenant_limit_override

# Administrators and auditors (Connector's restriction); plain users are refused.
READ_CONNECTORS = Need(Action.VIEW, of=Connector)
# A cluster schedules its heartbeat every minute and beats on every tick; three missed minutes mean it is down.
ALIVE_SECONDS = 180


@dataclass(frozen=True)
class ConnectorStatus:
    name: str
    shared: bool
    last_heartbeat: datetime | None
    alive: bool
    version: str
    host: str
    limit: int
    jobs_running: int
    queue_depth: int
    oldest_queued_at: datetime | None
    ticks_waiting: int | None


def connector_status(*, fetched_by) -> ConnectorStatus | None:
    """The status of the caller's tenant's connector (or of the shared cluster its work runs on), counting only the
    tenant's own jobs; None when the caller may not read it."""
    if not READ_CONNECTORS.allows(fetched_by):
        return None
    tenant_id = fetched_by.tenant_id
    connector = Connector.objects.restrict(fetched_by, Action.VIEW).filter(tenant_id=tenant_id).first()
    name = connector.name if connector else default_cluster()
    beat = beats_of([name]).get(name)
    work = [kind for kind in kinds() if kind.connector_work]
    queued = [kind.model.objects.filter(tenant_id=tenant_id, state=kind.queued) for kind in work]
    oldest = [d for d in (jobs.aggregate(d=Min("created_at"))["d"] for jobs in queued) if d is not None]
    return ConnectorStatus(
        name=name, shared=connector is None,
        last_heartbeat=beat.beat_at if beat else None,
        alive=bool(beat and (timezone.now() - beat.beat_at).total_seconds() < ALIVE_SECONDS),
        version=beat.version if beat else "",
        # The shared cluster's hosts are the platform's, not the tenant's business.
        host=beat.host if beat and connector else "",
        limit=connector_limit(connector) if connector else tenant_limit_override(tenant_id),
        jobs_running=sum(kind.model.objects.filter(tenant_id=tenant_id, state__in=kind.active).count()
                         for kind in work),
        queue_depth=sum(jobs.count() for jobs in queued),
        oldest_queued_at=min(oldest) if oldest else None,
        # Ticks queued on the broker but not yet taken: only on the tenant's own cluster, where they are all its.
        ticks_waiting=_broker_depth(name) if connector else None,
    )


def _broker_depth(name: str) -> int | None:
    from django_q.brokers import get_broker

    try:
        return get_broker(name).queue_size()
    except Exception:  # a broker that cannot say (or is down) leaves the figure blank, not the page broken
        return None
