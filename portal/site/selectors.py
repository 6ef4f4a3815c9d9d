"""The dashboard's reads: what the user's work is right now. Every kind of job comes from the registry
(`core.jobs.kinds`), so a new kind shows without a change here, and every row from `restrict(user, VIEW)`: an
auditor sees the tenant's work, a plain user that of the environments granted to them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Case, Value, When
from django.utils import timezone

from core.jobs.kinds import JobKind, kinds
from core.models import TenantVCenter
from core.roles import Action
from core.selectors import vcenter_warnings
from environments.models import Environment
from migrations_app.ui.views import MIGRATE
from portal.site.connectors import ConnectorStatus, connector_status

FAILURE_DAYS = 7
# Enough to see what is going on; the environment pages and the task history list the rest.
LIVE_SHOWN = 10
FAILURES_SHOWN = 10


@dataclass(frozen=True)
class JobRow:
    kind: str
    label: str
    pk: int
    state: str
    summary: str
    environment_id: int
    environment: str
    user: str
    created_at: datetime.datetime
    finished_at: datetime.datetime | None
    progress: int | None  # percent; None for a kind that reports none, or a job still queued
    queued: bool
    message: str


@dataclass(frozen=True)
class KindWork:
    kind: str
    label: str
    rows: list
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


@dataclass(frozen=True)
class Dashboard:
    live: list[KindWork]
    failures: list[JobRow]
    failures_total: int
    connector: ConnectorStatus | None
    can_migrate: bool
    warnings: list = field(default_factory=list)

    @property
    def live_total(self) -> int:
        return sum(work.total for work in self.live)


def _row(job_kind: JobKind, job) -> JobRow:
    summary = next((str(getattr(job, name)) for name in job_kind.describe if getattr(job, name, "")), "")
    queued = job.state == job_kind.queued
    progress = getattr(job, "progress_percent", None)
    return JobRow(
        kind=job_kind.name, label=job_kind.label or job_kind.name, pk=job.pk, state=job.state,
        summary=summary or f"{job_kind.name} {job.pk}", environment_id=job.environment_id,
        environment=job.environment.name, user=job.created_by.username, created_at=job.created_at,
        finished_at=job.finished_at, progress=None if queued else progress, queued=queued,
        message=job.status_message)


def _jobs(job_kind: JobKind, user):
    return job_kind.model.objects.restrict(user, Action.VIEW).select_related("environment", "created_by")


def dashboard(*, fetched_by, now=None) -> Dashboard:
    """Live (running and queued) jobs of every kind, the failures of the last seven days, the connector's status,
    and whether the user may start a migration. A few queries per kind, whatever the tenant holds."""
    since = (now or timezone.now()) - datetime.timedelta(days=FAILURE_DAYS)
    live, failures, failures_total = [], [], 0
    for job_kind in kinds():
        live_jobs = _jobs(job_kind, fetched_by).filter(state__in=job_kind.live)
        # Running before waiting, each oldest first: the order in which they will finish.
        waiting_last = Case(When(state=job_kind.queued, then=Value(1)), default=Value(0))
        rows = list(live_jobs.order_by(waiting_last, "created_at", "pk")[:LIVE_SHOWN])
        # Counted only when the shown rows may not be all of them: two queries per kind on a quiet day.
        total = live_jobs.count() if len(rows) == LIVE_SHOWN else len(rows)
        if total:
            live.append(KindWork(job_kind.name, job_kind.label or job_kind.name,
                                 [_row(job_kind, job) for job in rows], total))
        failed = _jobs(job_kind, fetched_by).filter(state__in=job_kind.failed, finished_at__gte=since)
        newest = list(failed.order_by("-finished_at", "-pk")[:FAILURES_SHOWN])
        failures_total += failed.count() if len(newest) == FAILURES_SHOWN else len(newest)
        failures += [_row(job_kind, job) for job in newest]
    failures.sort(key=lambda r: r.finished_at, reverse=True)
    vcenter = TenantVCenter.objects.restrict(fetched_by, Action.VIEW).first()
    return Dashboard(
        live=live, failures=failures[:FAILURES_SHOWN], failures_total=failures_total,
        connector=connector_status(fetched_by=fetched_by),
        can_migrate=MIGRATE.allows(fetched_by) and Environment.objects.restrict(
            fetched_by, Action.OPERATE).exists(),
        warnings=vcenter_warnings(vcenter) if vcenter else [])
