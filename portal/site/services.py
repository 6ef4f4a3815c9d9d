"""Writes of the site layer: the task history's retention (it deletes jobs of every app, so it lives here)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from core.audit import audit_record
from core.audit_actions import AuditAction
from core.models import Tenant
from portal.site.history import expired_jobs, history_kinds


def history_cleanup(*, now: datetime.datetime | None = None) -> dict:
    """Delete finished jobs (terminal states only, never running ones) created more than HISTORY_RETENTION_DAYS
    ago, and write one audit row per tenant that lost any, with the counts per type. The audit log stays.

    Returns {tenant id: {type: count}}."""
    before = (now or timezone.now()) - datetime.timedelta(days=settings.HISTORY_RETENTION_DAYS)
    deleted: dict[int, dict[str, int]] = {}
    retained = history_kinds()
    with transaction.atomic():
        for job_kind in retained:
            expired = expired_jobs(job_kind, before=before)
            counts = expired.order_by().values("tenant_id").annotate(n=Count("id"))
            for entry in counts:
                deleted.setdefault(entry["tenant_id"], {k.name: 0 for k in retained})[job_kind.name] = entry["n"]
            expired.delete()
        for tenant in Tenant.objects.filter(pk__in=deleted).order_by("pk"):
            audit_record(actor=None, action=AuditAction.HISTORY_CLEANUP, obj=tenant, tenant=tenant,
                         detail={"before": before.isoformat(), "deleted": deleted[tenant.pk],
                                 "retention_days": settings.HISTORY_RETENTION_DAYS})
    return deleted
