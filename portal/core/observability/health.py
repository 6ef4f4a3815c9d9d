"""Health checks: readiness of this process's dependencies (database, cache, broker) and, per tenant, of the
connector's peers (vCenter, AWS) and the workers. Results name a category, never socket text."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from portal.core.errors import PortalError
from portal.core.models import Tenant
from portal.integrations.aws import client as aws
from portal.integrations.vsphere import client as vsphere

logger = logging.getLogger("portal.observability.health")

OK = "ok"
FAILED = "failed"
NOT_CONFIGURED = "not_configured"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == OK

    def as_dict(self) -> dict:
        return asdict(self)


def _checked(name: str, probe) -> Check:
    try:
        return Check(name, OK, probe() or {})
    except Exception as exc:  # noqa: BLE001 -- a readiness probe reports every failure as "not ready"
        logger.warning("readiness check %s failed: %r", name, exc)
        return Check(name, FAILED, {"error": type(exc).__name__})


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _cache() -> dict:
    key, value = f"readyz:{uuid.uuid4().hex}", "1"
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)
    return {}


def _broker() -> dict:
    from django_q.brokers import get_broker

    broker = get_broker()
    # The ORM broker's ping() is always true; its queue size is a real query on its table.
    broker.ping()
    return {"queued": broker.queue_size() or 0}


def readiness() -> list[Check]:
    """Whether this process can serve: the database, the cache and the task broker all answer."""
    return [_checked("database", _database), _checked("cache", _cache), _checked("broker", _broker)]


#
# Connector health (per tenant)
#


def _vcenter(tenant: Tenant) -> Check:
    from portal.core import peers

    try:
        conn = peers.vcenter_connection(tenant)
    except PortalError:
        return Check("vcenter", NOT_CONFIGURED)
    try:
        with vsphere.session(conn) as session:
            about = session.content.about
            return Check("vcenter", OK, {"version": str(about.version), "build": str(about.build),
                                         "name": str(about.fullName)})
    except vsphere.VSphereError as exc:
        return Check("vcenter", FAILED, {"category": exc.category, "message": exc.message})


def _aws(tenant: Tenant) -> Check:
    from portal.core import peers

    try:
        credentials = peers.aws_credentials(tenant)
    except PortalError as exc:
        if exc.code == "aws_not_configured":
            return Check("aws", NOT_CONFIGURED)
        return Check("aws", FAILED, {"category": exc.code, "message": exc.message})
    try:
        with aws.translated_errors():
            identity = aws.client("sts", credentials, settings.AWS_DEFAULT_REGION).get_caller_identity()
    except aws.AwsError as exc:
        from portal.integrations.peer_errors import aws_category

        return Check("aws", FAILED, {"category": aws_category(exc.code), "code": exc.code})
    return Check("aws", OK, {"account_id": identity["Account"]})


def _workers() -> Check:
    """Clusters that report their stats (needs a cache shared with the workers: REDIS_URL), and the last task a
    worker finished (the database: every reconciler runs each minute, so a live worker finishes one often)."""
    from django_q.models import Task
    from django_q.status import Stat

    try:
        clusters = [{"cluster_id": str(stat.cluster_id), "status": str(stat.status), "workers": len(stat.workers)}
                    for stat in Stat.get_all()]
    except Exception as exc:  # noqa: BLE001 -- stats live in the cache; their absence is "unknown", not an error
        logger.warning("could not read django-q2 cluster stats: %r", exc)
        clusters = []
    last = Task.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    recent = last is not None and last >= timezone.now() - timedelta(seconds=settings.HEALTH_WORKER_STALE_SECONDS)
    status = OK if clusters or recent else (FAILED if last is not None else UNKNOWN)
    return Check("workers", status, {"clusters": clusters,
                                     "last_task_finished_at": last.isoformat() if last else None})


def connector_health(tenant: Tenant) -> list[Check]:
    """The tenant's vCenter (reachable, its version), AWS (reachable with the tenant's own credentials, its account
    id from STS GetCallerIdentity), and whether workers are alive."""
    return [_vcenter(tenant), _aws(tenant), _workers()]
