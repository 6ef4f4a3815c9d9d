"""Where a tenant's ticks run, and the check every tick makes on arrival.

django-q2 routes by queue name: `async_task(..., cluster=name)` puts the task on the broker's `name` list (OrmQ.key
with the ORM broker), which only a cluster started with Q_CLUSTER_NAME=name takes (django_q.conf: CLUSTER_NAME,
brokers.get_broker). Untargeted tasks go to the enqueuing process's own cluster, which inside a connector would be
the connector: so every tick names its cluster explicitly."""

from __future__ import annotations

import logging

from core.connectors.selectors import cluster_for_tenant, default_cluster

logger = logging.getLogger("portal.connectors.routing")


def tick_cluster(tenant_id: int) -> str:
    """The cluster that must run this tenant's ticks: its connector's, or the shared default cluster."""
    return cluster_for_tenant(tenant_id) or default_cluster()


def running_cluster() -> str | None:
    """The cluster this process works for, or None outside a worker (sync tasks, tests calling ticks directly,
    the web process): there is no wrong place to be then."""
    from django_q.conf import Conf

    if Conf.SYNC:
        return None
    import multiprocessing

    # A qcluster worker is a child process of the cluster's sentinel; the web and shell processes are not.
    if multiprocessing.current_process().name == "MainProcess":
        return None
    return Conf.CLUSTER_NAME


def accept_tick(*, kind: str, job_id: int, tenant_id: int, resend) -> bool:
    """Whether this worker may run the job's tick. A tick that landed on another cluster than its tenant's (the
    connector was added, changed or removed after it was queued) does no work there: it is sent where it belongs
    (`resend()`), and nothing of the tenant runs on a cluster that is not the tenant's."""
    from core.connectors.services import connector_beat

    here = running_cluster()
    if here is None:
        return True
    expected = tick_cluster(tenant_id)
    if here != expected:
        logger.warning("%s %s: tick arrived on cluster %s, re-routed to %s", kind, job_id, here, expected)
        resend()
        return False
    connector_beat(cluster=here)
    return True
