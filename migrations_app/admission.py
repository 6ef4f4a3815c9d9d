"""Admission policy: at most N active migrations per region (the connector's limit), first come, first served for
the rest. This module decides who may start; `transitions.migration_admit` starts them."""

from __future__ import annotations

from django.conf import settings

from environments.models import Region
from migrations_app.choices import ACTIVE, MigrationState
from migrations_app.models import MigrationTask
from portal.core.models import Tenant, TenantVCenter


def region_limit(region: Region) -> int:
    """The connector's limit for the region: the platform's, or the tenant's own when it is lower (a tenant's
    setting may only lower it; the service refuses more, and this holds for rows written before that rule)."""
    override = TenantVCenter.objects.filter(tenant_id=region.tenant_id).values_list(
        "max_active_migrations_per_region", flat=True).first()
    return min(override or settings.MIGRATION_MAX_ACTIVE_PER_REGION, settings.MIGRATION_MAX_ACTIVE_PER_REGION)


def admissible(region_id: int) -> list[int]:
    """Ids of the queued migrations of the region that may start now, oldest first.

    Call inside a transaction: the region row is locked while counting, so concurrent submitters and several
    workers can never admit more than N (under READ COMMITTED a lock on the jobs alone would not stop a
    concurrent insert). The tenant row is locked first (the same order everywhere, so no deadlock), because the
    tenant's cap spans its regions. The locks are held until the caller's transaction ends."""
    tenant_id = Region.objects.filter(pk=region_id).values_list("tenant_id", flat=True).get()
    # FOR NO KEY UPDATE: admissions queue behind each other, but inserts that merely reference these rows (a new
    # job's foreign-key checks take KEY SHARE) are not blocked, which with two rows locked would deadlock.
    Tenant.objects.select_for_update(no_key=True).filter(pk=tenant_id).values_list("pk", flat=True).get()
    region = Region.objects.select_for_update(no_key=True).get(pk=region_id)
    active = MigrationTask.objects.filter(region_id=region_id, state__in=ACTIVE).count()
    tenant_active = MigrationTask.objects.filter(tenant_id=tenant_id, state__in=ACTIVE).count()
    free = min(region_limit(region) - active, settings.MIGRATION_MAX_ACTIVE_PER_TENANT - tenant_active)
    if free <= 0:
        return []
    return list(MigrationTask.objects.filter(
        region_id=region_id, state=MigrationState.QUEUED, cancel_requested=False,
    ).order_by("created_at", "id").values_list("pk", flat=True)[:free])


def queue_position(task: MigrationTask) -> int | None:
    """1 for the next migration to start in its region; None when it is not queued."""
    if task.state != MigrationState.QUEUED:
        return None
    return queue_positions([task.region_id]).get(task.pk)


def queue_positions(region_ids) -> dict[int, int]:
    """Queue positions of every waiting migration in these regions, in one query (for lists)."""
    positions: dict[int, int] = {}
    counters: dict[int, int] = {}
    for task_id, region_id in MigrationTask.objects.filter(
            region_id__in=set(region_ids), state=MigrationState.QUEUED, cancel_requested=False,
    ).order_by("created_at", "id").values_list("pk", "region_id"):
        counters[region_id] = counters.get(region_id, 0) + 1
        positions[task_id] = counters[region_id]
    return positions
