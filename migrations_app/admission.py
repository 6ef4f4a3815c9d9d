"""Admission: at most N active migrations per region (the connector's limit), FIFO for the rest.

The region row is locked while counting and admitting, so concurrent submissions and several workers can never
admit more than N (under READ COMMITTED a lock on the jobs alone would not stop a concurrent insert)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from environments.models import Region
from migrations_app.choices import ACTIVE, MigrationState
from migrations_app.models import MigrationTask
from migrations_app.queue import enqueue_tick
from migrations_app.transitions import migration_transition
from portal.models import TenantVCenter


def region_limit(region: Region) -> int:
    override = TenantVCenter.objects.filter(tenant_id=region.tenant_id).values_list(
        "max_active_migrations_per_region", flat=True).first()
    return override or settings.MIGRATION_MAX_ACTIVE_PER_REGION


def migration_admit(*, region_id: int) -> list[int]:
    """Start the oldest queued migrations of the region while slots are free; returns their ids."""
    with transaction.atomic():
        region = Region.objects.select_for_update().get(pk=region_id)
        active = MigrationTask.objects.filter(region_id=region_id, state__in=ACTIVE).count()
        free = region_limit(region) - active
        if free <= 0:
            return []
        admitted = list(MigrationTask.objects.filter(
            region_id=region_id, state=MigrationState.QUEUED, cancel_requested=False,
        ).order_by("created_at", "id").values_list("pk", flat=True)[:free])
        for task_id in admitted:
            migration_transition(task_id=task_id, to=MigrationState.EXPORTING, expected_from={MigrationState.QUEUED},
                                 step="starting", status_message="Waiting for a worker")
        for task_id in admitted:
            enqueue_tick(task_id)
    return admitted


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
