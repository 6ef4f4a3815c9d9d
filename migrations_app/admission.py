"""Admission policy: who may start now, and the queue position each waiting migration is shown. This module decides;
the job engine (`core.jobs.transitions.admit`) starts them.

One capacity pool. Every tenant's migrations run on the platform's shared workers (a connector agent exports and
uploads, the workers import and launch), so all tenants share one pool: at most MIGRATION_MAX_ACTIVE_SHARED of all
migrations are active at once, and each tenant at most `region_limit` per region (MIGRATION_MAX_ACTIVE_PER_REGION,
4 as in the original connector, or the tenant's lower limit) and MIGRATION_MAX_ACTIVE_PER_TENANT in all.

Fair share (issue 12). A free slot goes to the waiting migration with the smallest `turn` = (the tenant's active
migrations) + (its rank in the tenant's own queue, oldest first); ties go to the older job. So the tenant holding
the fewest slots is served next and slots go round-robin by tenant as they free up: a tenant's hundredth queued
migration waits behind every other tenant's first, and a tenant arriving with one job while another holds every
slot starts at the next release. A job its own region or tenant limit still blocks is passed over (it keeps its
turn) for the next one. Queue positions are the same order, so what users see is what admission does (see
`queue_positions`).

Lock order (PostgreSQL), the same everywhere so that admissions cannot deadlock: the tenant row, then the region
row, then the pool row, each FOR NO KEY UPDATE. The pool lock is what serializes every admission that counts the
same slots, across tenants: it must be one row that exists once, whoever admits. That row is
`core.connectors.models.CapacityPool` ("platform"), the former shared cluster's Connector row kept for exactly
this: a row of its own holds nothing but the lock, so no unrelated write (a tenant's settings, a schedule's run)
ever queues behind an admission or takes part in its lock order, and it is made once by a migration rather than
guessed from another table. Admitting another tenant's job then only locks that job's own row and writes an audit
row (a foreign-key check takes KEY SHARE, which FOR NO KEY UPDATE does not block). Callers must not hold a
migration row lock when they call `admissible`: every caller admits in its own transaction or right after creating
a job that nobody else can have locked."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q

from core.connectors.models import CapacityPool
from core.connectors.services import capacity_pool
from core.jobs.admission import Admission
from core.models import Tenant, TenantVCenter
from core.observability import admission_refused
from environments.models import Region
from migrations_app.choices import ACTIVE, MigrationState
from migrations_app.models import MigrationTask


def tenant_limit_override(tenant_id: int) -> int:
    """The platform's per-region limit, or the tenant's own when it is lower (a tenant's setting may only lower it;
    the service refuses more, and this holds for rows written before that rule)."""
    override = TenantVCenter.objects.filter(tenant_id=tenant_id).values_list(
        "max_active_migrations_per_region", flat=True).first()
    return min(override or settings.MIGRATION_MAX_ACTIVE_PER_REGION, settings.MIGRATION_MAX_ACTIVE_PER_REGION)


def region_limit(region: Region) -> int:
    """A tenant's limit in one region."""
    return tenant_limit_override(region.tenant_id)


@dataclass
class _Pool:
    """The pool's state: who is active where, and who waits, in fair order."""

    active_by_tenant: dict[int, int] = field(default_factory=dict)
    active_by_region: dict[int, int] = field(default_factory=dict)
    waiting: list[tuple[int, int, int]] = field(default_factory=list)  # (task id, tenant id, region id), fair order

    @property
    def active(self) -> int:
        return sum(self.active_by_tenant.values())

    @property
    def limit(self) -> int:
        return settings.MIGRATION_MAX_ACTIVE_SHARED


def _pool_state() -> _Pool:
    pool = _Pool()
    for tenant_id, region_id, n in MigrationTask.objects.filter(state__in=ACTIVE).values(
            "tenant_id", "region_id").annotate(n=Count("pk")).values_list("tenant_id", "region_id", "n"):
        pool.active_by_tenant[tenant_id] = pool.active_by_tenant.get(tenant_id, 0) + n
        pool.active_by_region[region_id] = pool.active_by_region.get(region_id, 0) + n
    pool.waiting = _fair_order(pool.active_by_tenant, MigrationTask.objects.filter(
        state=MigrationState.QUEUED, cancel_requested=False,
    ).order_by("created_at", "id").values_list("pk", "tenant_id", "region_id"))
    return pool


def _fair_order(active_by_tenant: dict[int, int], queued) -> list[tuple[int, int, int]]:
    """The pool's waiting jobs (task id, tenant id, region id), given oldest first, in the order admission serves
    them (see the module's fair share)."""
    ranks: dict[int, int] = {}
    keyed = []
    for task_id, tenant_id, region_id in queued:
        ranks[tenant_id] = ranks.get(tenant_id, 0) + 1
        turn = active_by_tenant.get(tenant_id, 0) + ranks[tenant_id]
        keyed.append((turn, len(keyed), task_id, tenant_id, region_id))  # len(keyed): oldest first on a tie
    return [(task_id, tenant_id, region_id) for _, _, task_id, tenant_id, region_id in sorted(keyed)]


def _blocked(pool: _Pool, tenant_id: int, region_id: int, limits: dict[int, int]) -> str | None:
    """Why this job cannot start now though the pool has room (its region's or tenant's own limit), or None."""
    if pool.active_by_tenant.get(tenant_id, 0) >= settings.MIGRATION_MAX_ACTIVE_PER_TENANT:
        return "tenant_limit"
    if region_id not in limits:
        limits[region_id] = tenant_limit_override(tenant_id)
    if pool.active_by_region.get(region_id, 0) >= limits[region_id]:
        return "region_limit"
    return None


def admissible(region_id: int) -> list[int]:
    """Ids of the queued migrations that may start now, in the order admission serves them: those of the whole pool
    (every tenant and region), not only of the region.

    Call inside a transaction: the pool's row is locked while counting (see the module's lock order), so
    concurrent submitters and several workers never admit more than a limit allows (under READ COMMITTED a lock on
    the jobs alone would not stop a concurrent insert). The locks are held until the caller's transaction ends."""
    tenant_id = Region.objects.filter(pk=region_id).values_list("tenant_id", flat=True).get()
    # FOR NO KEY UPDATE: admissions queue behind each other, but inserts that merely reference these rows (a new
    # job's foreign-key checks take KEY SHARE) are not blocked, which with several rows locked would deadlock.
    Tenant.objects.select_for_update(no_key=True).filter(pk=tenant_id).values_list("pk", flat=True).get()
    Region.objects.select_for_update(no_key=True).filter(pk=region_id).values_list("pk", flat=True).get()
    pool_row = CapacityPool.objects.select_for_update(no_key=True).filter(name=CapacityPool.PLATFORM)
    if pool_row.values_list("pk", flat=True).first() is None:  # a flushed test database: made once, then locked
        capacity_pool()
        pool_row.values_list("pk", flat=True).get()
    pool = _pool_state()
    free = pool.limit - pool.active
    admitted: list[int] = []
    limits: dict[int, int] = {}
    for task_id, job_tenant, job_region in pool.waiting:
        if free <= 0:
            admission_refused("migration", "shared_limit")
            break
        reason = _blocked(pool, job_tenant, job_region, limits)
        if reason is not None:
            admission_refused("migration", reason)
            continue
        admitted.append(task_id)
        free -= 1
        pool.active_by_tenant[job_tenant] = pool.active_by_tenant.get(job_tenant, 0) + 1
        pool.active_by_region[job_region] = pool.active_by_region.get(job_region, 0) + 1
    return admitted


def queue_position(task: MigrationTask) -> int | None:
    """1 for the next migration to start among those it waits with; None when it is not queued."""
    if task.state != MigrationState.QUEUED:
        return None
    return queue_positions([task.region_id]).get(task.pk)


def queue_positions(region_ids) -> dict[int, int]:
    """Queue positions of every waiting migration in these regions (for lists; one query).

    A job's position counts the jobs ahead of it in the pool's fair order that it actually waits behind: every one
    while the pool itself is full, otherwise only those its own limits hold back with it (its region's, or its
    tenant's when the tenant is at its cap).

    The pool's active and waiting jobs come in one read instead of the locked counting `admissible` does:
    positions are shown, not acted on."""
    region_ids = set(region_ids)
    if not region_ids:
        return {}
    active_by_tenant: dict[int, int] = {}
    queued = []
    for task_id, tenant_id, region_id, state in MigrationTask.objects.filter(
            Q(state__in=ACTIVE) | Q(state=MigrationState.QUEUED, cancel_requested=False),
    ).order_by("created_at", "id").values_list("pk", "tenant_id", "region_id", "state"):
        if state == MigrationState.QUEUED:
            queued.append((task_id, tenant_id, region_id))
        else:
            active_by_tenant[tenant_id] = active_by_tenant.get(tenant_id, 0) + 1
    positions: dict[int, int] = {}
    pool_full = sum(active_by_tenant.values()) >= settings.MIGRATION_MAX_ACTIVE_SHARED
    tenant_full = {t for t, n in active_by_tenant.items() if n >= settings.MIGRATION_MAX_ACTIVE_PER_TENANT}
    ahead_in_region: dict[int, int] = {}
    ahead_in_tenant: dict[int, int] = {}
    for index, (task_id, tenant_id, region_id) in enumerate(_fair_order(active_by_tenant, queued)):
        ahead_in_region[region_id] = ahead_in_region.get(region_id, 0) + 1
        ahead_in_tenant[tenant_id] = ahead_in_tenant.get(tenant_id, 0) + 1
        if region_id not in region_ids:
            continue
        if pool_full:
            positions[task_id] = index + 1
        elif tenant_id in tenant_full:
            positions[task_id] = ahead_in_tenant[tenant_id]
        else:
            positions[task_id] = ahead_in_region[region_id]
    return positions


class FairShare(Admission):
    """The engine's view of this policy (core.jobs.admission)."""

    kind_name = "migration"
    started = MigrationState.EXPORTING

    def admissible(self, scope: int) -> list[int]:
        return admissible(scope)

    def queue_positions(self, scopes) -> dict[int, int]:
        return queue_positions(scopes)
