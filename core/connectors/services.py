"""Writes: pinning a tenant to its connector cluster (audited) and a cluster's heartbeat (telemetry, not audited:
a row a minute per cluster would drown the tenant's audit log)."""

from __future__ import annotations

import socket
from importlib import metadata

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.audit_actions import AuditAction
from core.connectors.models import Connector, ConnectorBeat
from core.connectors.selectors import default_cluster
from core.errors import Conflict, Invalid
from core.validation import validated_save

HEARTBEAT_FUNC = "core.connectors.tasks.connector_heartbeat"


def shared_connector() -> Connector:
    """The shared cluster's row (migration 0002 makes it; a flushed test database may not have it)."""
    try:
        return Connector.objects.get(tenant__isnull=True)
    except Connector.DoesNotExist:
        try:
            with transaction.atomic():
                return Connector.objects.create(tenant=None, name="")
        except IntegrityError:  # made concurrently
            return Connector.objects.get(tenant__isnull=True)


@transaction.atomic
def connector_create(*, actor, tenant, name: str) -> Connector:
    """Pin the tenant's vCenter work to the cluster `name`; from the next tick on it runs there and nowhere else."""
    if name == default_cluster():
        raise Invalid("That is the shared cluster's name; a connector needs its own.", field="name")
    if Connector.objects.filter(tenant=tenant).exists():
        raise Conflict("The tenant already has a connector.")
    connector = Connector(tenant=tenant, name=name)
    validated_save(connector)
    _heartbeat_schedule(name)
    audit_record(actor=actor, action=AuditAction.CONNECTOR_CREATE, obj=connector, tenant=tenant, detail={"name": name})
    return connector


@transaction.atomic
def connector_delete(*, actor, connector: Connector) -> None:
    """Unpin: the tenant's next ticks go to the shared cluster (a tick already queued there re-routes itself)."""
    if connector.is_shared:
        raise Invalid("The shared cluster cannot be removed.")
    from django_q.models import Schedule

    Schedule.objects.filter(func=HEARTBEAT_FUNC, cluster=connector.name).delete()
    tenant, name = connector.tenant, connector.name
    connector.delete()
    audit_record(actor=actor, action=AuditAction.CONNECTOR_DELETE, obj=None, tenant=tenant, detail={"name": name})


def _heartbeat_schedule(name: str) -> None:
    """A heartbeat every minute, run by the connector cluster itself (django-q2 runs a schedule whose `cluster`
    names it only there)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=f"connector-heartbeat-{name}",
        defaults={"func": HEARTBEAT_FUNC, "schedule_type": Schedule.MINUTES, "minutes": 1, "cluster": name,
                  "repeats": -1})


def portal_version() -> str:
    try:
        return metadata.version("vmigrate-portal")
    except metadata.PackageNotFoundError:
        return "unknown"


def connector_beat(*, cluster: str) -> None:
    """Record that `cluster` is alive now (its version and host with it)."""
    fields = {"beat_at": timezone.now(), "version": portal_version()[:40], "host": socket.gethostname()[:255]}
    if ConnectorBeat.objects.filter(cluster=cluster).update(**fields):
        return
    try:
        with transaction.atomic():
            ConnectorBeat.objects.create(cluster=cluster, **fields)
    except IntegrityError:  # written concurrently by another worker of the same cluster
        ConnectorBeat.objects.filter(cluster=cluster).update(**fields)
