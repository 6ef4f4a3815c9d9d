"""Health checks: readiness of this process's dependencies (database, cache, broker) and, per tenant, of the
connector's peers (vCenter, AWS) and its agents. Results name a category, never socket text."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from adapters.aws import client as aws
from core.errors import PortalError
from core.models import Tenant

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


def _vcenter_as_agents_report(tenant: Tenant) -> Check:
    """A tenant's vCenter is reached by its agents only: what they last reported of it."""
    from core.connectors.selectors import serving_agents

    reports = list(serving_agents(tenant.pk).exclude(vcenter_reachable=None).order_by("-last_contact_at")
                   .values("name", "vcenter_reachable", "vcenter_version", "last_contact_at"))
    if not reports:
        return Check("vcenter", UNKNOWN, {"source": "connector agents", "message": "No agent has reported yet."})
    reached = [r for r in reports if r["vcenter_reachable"]]
    latest = (reached or reports)[0]
    detail = {"source": f"connector agent {latest['name']}", "version": latest["vcenter_version"],
              "reported_at": latest["last_contact_at"].isoformat() if latest["last_contact_at"] else None}
    return Check("vcenter", OK if reached else FAILED, detail)


def _vcenter(tenant: Tenant) -> Check:
    from core.connectors.selectors import NO_CONNECTOR, agents_serve

    if not agents_serve(tenant.pk):
        return Check("vcenter", NOT_CONFIGURED, {"message": NO_CONNECTOR})
    return _vcenter_as_agents_report(tenant)


def _aws(tenant: Tenant) -> Check:
    from core import peers

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
        from adapters.peer_errors import aws_category

        return Check("aws", FAILED, {"category": aws_category(exc.code), "code": exc.code})
    return Check("aws", OK, {"account_id": identity["Account"]})


def _agents(tenant: Tenant) -> Check:
    """Whether the tenant's connector agents are in contact: one of its registered agents called within three
    report intervals. Nothing of other tenants' agents or of the platform's workers is shown."""
    from core.connectors.selectors import agent_last_contact, agents_online, serving_agents

    count = serving_agents(tenant.pk).count()
    if not count:
        return Check("agents", NOT_CONFIGURED)
    last = agent_last_contact(tenant.pk)
    detail = {"agents": count, "last_contact_at": last.isoformat() if last else None}
    if last is None:
        return Check("agents", UNKNOWN, detail)
    return Check("agents", OK if agents_online(last) else FAILED, detail)


@dataclass(frozen=True)
class HealthAnswer:
    checks: list[Check]
    checked_at: str

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


class RefreshTooSoon(Exception):
    def __init__(self, retry_after: int):
        super().__init__("A forced refresh of the connector's health was asked for too recently.")
        self.retry_after = retry_after


def _probe(fetched_by) -> HealthAnswer:
    tenant = fetched_by.tenant
    checks = [_vcenter(tenant), _aws(tenant), _agents(tenant)]
    return HealthAnswer(checks, timezone.now().isoformat())


def connector_health(*, fetched_by, refresh: bool = False) -> HealthAnswer:
    """The caller's tenant's vCenter (reachable, its version), AWS (reachable with the tenant's own credentials, its
    account id from STS GetCallerIdentity), and whether the tenant's connector agents are in contact.

    Probing logs in to vCenter and calls STS, so the answer is kept per tenant for HEALTH_CACHE_SECONDS: asking
    the page or the API again cannot hammer a peer. `refresh` probes at once, at most once per tenant every
    HEALTH_REFRESH_MIN_SECONDS (RefreshTooSoon otherwise)."""
    key = f"connector-health:{fetched_by.tenant_id}"
    if refresh:
        # cache.add is atomic (Redis SET NX, locmem's lock): of concurrent forced refreshes, one probes.
        if not cache.add(f"{key}:refresh", 1, timeout=settings.HEALTH_REFRESH_MIN_SECONDS):
            raise RefreshTooSoon(settings.HEALTH_REFRESH_MIN_SECONDS)
    else:
        cached = cache.get(key)
        if cached is not None:
            return HealthAnswer([Check(**c) for c in cached["checks"]], cached["checked_at"])
    answer = _probe(fetched_by)
    cache.set(key, {"checks": [c.as_dict() for c in answer.checks], "checked_at": answer.checked_at},
              timeout=settings.HEALTH_CACHE_SECONDS)
    return answer
