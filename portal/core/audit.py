"""Writing audit rows. Every state-changing service and every denial calls `audit_record`."""

from __future__ import annotations

from django.db import models

from portal.core.middleware import current_remote_addr
from portal.core.models import AuditLog, AuditOutcome, Tenant


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    tenant=None,
    outcome: str = AuditOutcome.SUCCESS,
    detail: dict | None = None,
) -> AuditLog:
    """Append one audit row. The tenant defaults to the object's, then the actor's."""
    if tenant is None and obj is not None:
        tenant = obj if isinstance(obj, Tenant) else getattr(obj, "tenant", None)
    if tenant is None and actor is not None and getattr(actor, "is_authenticated", False):
        tenant = actor.tenant
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditLog.objects.create(
        tenant=tenant,
        actor=actor if authenticated else None,
        actor_username=actor.get_username() if authenticated else "",
        action=action,
        outcome=outcome,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        detail=detail or {},
        remote_addr=current_remote_addr.get(),
    )
