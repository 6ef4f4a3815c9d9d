"""Admission policy: at most EXPORT_MAX_ACTIVE_PER_REGION exports in progress per region (AWS's limit of export
tasks), first come, first served for the rest. This module decides who may start; `transitions.export_admit`
starts them.

Unlike migrations (migrations_app/admission.py) there is no cross-tenant pool here: the limit is AWS's, per region
of the tenant's own account, so tenants never compete for it, whichever cluster (connector or shared) runs the
ticks."""

from __future__ import annotations

from django.conf import settings

from environments.models import Region
from exports.choices import ACTIVE, ExportState
from exports.models import ExportTask


def admissible(region_id: int) -> list[int]:
    """Ids of the queued exports of the region that may start now, oldest first.

    Call inside a transaction: the region row is locked while counting, so concurrent submitters and several
    workers never admit more than the limit (under READ COMMITTED a lock on the jobs alone would not stop a
    concurrent insert). The lock is held until the caller's transaction ends."""
    Region.objects.select_for_update().filter(pk=region_id).values_list("pk", flat=True).get()
    active = ExportTask.objects.filter(region_id=region_id, state__in=ACTIVE).count()
    free = settings.EXPORT_MAX_ACTIVE_PER_REGION - active
    if free <= 0:
        return []
    return list(ExportTask.objects.filter(
        region_id=region_id, state=ExportState.QUEUED, cancel_requested=False,
    ).order_by("created_at", "id").values_list("pk", flat=True)[:free])


def queue_position(task: ExportTask) -> int | None:
    """1 for the next export to start in its region; None when it is not queued."""
    if task.state != ExportState.QUEUED:
        return None
    return queue_positions([task.region_id]).get(task.pk)


def queue_positions(region_ids) -> dict[int, int]:
    """Queue positions of every waiting export in these regions, in one query (for lists)."""
    positions: dict[int, int] = {}
    counters: dict[int, int] = {}
    for task_id, region_id in ExportTask.objects.filter(
            region_id__in=set(region_ids), state=ExportState.QUEUED, cancel_requested=False,
    ).order_by("created_at", "id").values_list("pk", "region_id"):
        counters[region_id] = counters.get(region_id, 0) + 1
        positions[task_id] = counters[region_id]
    return positions
