"""The seven-day task history: one read over every migration, export, backup and launch of the tenant.

Each source goes through `restrict(user, VIEW)`, is reduced to the same columns (`.values()` of annotations, in one
order) and the four are combined with UNION ALL; ordering, counting and slicing happen in the database, so one page
costs the same few queries whatever the tables hold. Only the site layer may import every app, so this lives here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from types import SimpleNamespace

from django.db import connection
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from exports.choices import ExportState
from exports.models import ExportTask
from lifecycle.backups.choices import BackupState
from lifecycle.backups.models import BackupTask
from lifecycle.launches.models import LaunchState, LaunchTask
from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from portal.core.models import AuditLog
from portal.core.querysets import Need
from portal.core.roles import Action

HISTORY_DAYS = 7
# Administrators and auditors read the history, like the audit log; plain users are refused.
READ_HISTORY = Need(Action.VIEW, of=AuditLog)


def _nonblank(*names):
    return Coalesce(*(NullIf(F(name), Value("")) for name in names), Value(""), output_field=CharField())


@dataclass(frozen=True)
class Source:
    model: type
    states: type
    summary: object  # an expression: what the job was about (VM name, instance id, image id)


SOURCES: dict[str, Source] = {
    "migration": Source(MigrationTask, MigrationState, _nonblank("vm_name")),
    "export": Source(ExportTask, ExportState, _nonblank("ec2_instance_id")),
    "backup": Source(BackupTask, BackupState, _nonblank("image_id", "image_name")),
    "launch": Source(LaunchTask, LaunchState, _nonblank("instance_id", "image_id")),
}
TYPES = tuple(SOURCES)
STATES = tuple(sorted({value for source in SOURCES.values() for value in source.states.values}))

# Output key -> the annotation each source selects it as (annotations may not reuse the models' field names).
_COLUMNS = {
    "type": "h_type", "id": "h_id", "environment_id": "h_environment_id", "environment": "h_environment",
    "user_id": "h_user_id", "user": "h_user", "state": "h_state", "created_at": "h_created_at",
    "finished_at": "h_finished_at", "summary": "h_summary",
}
CSV_HEADER = ("type", "id", "environment_id", "environment", "user", "state", "created_at", "finished_at",
              "summary")


@dataclass(frozen=True)
class HistoryFilters:
    type: str | None = None
    environment: int | None = None
    user: int | None = None
    state: str | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None


def default_since(now: datetime.datetime | None = None) -> datetime.datetime:
    """The start of the default window: a task created exactly seven days ago is still in (`>=`)."""
    return (now or timezone.now()) - datetime.timedelta(days=HISTORY_DAYS)


def _source_filtered(source: Source, user, filters: HistoryFilters, since) -> QuerySet:
    rows = source.model.objects.restrict(user, Action.VIEW).filter(created_at__gte=since)
    if filters.until is not None:
        rows = rows.filter(created_at__lt=filters.until)
    if filters.environment is not None:
        rows = rows.filter(environment_id=filters.environment)
    if filters.user is not None:
        rows = rows.filter(created_by_id=filters.user)
    if filters.state:
        rows = rows.filter(state=filters.state)
    return rows.order_by()


def _source_rows(kind: str, source: Source, rows: QuerySet) -> QuerySet:
    rows = rows.annotate(
        h_type=Value(kind, output_field=CharField()), h_id=F("id"), h_environment_id=F("environment_id"),
        h_environment=F("environment__name"), h_user_id=F("created_by_id"), h_user=F("created_by__username"),
        h_state=F("state"), h_created_at=F("created_at"), h_finished_at=F("finished_at"), h_summary=source.summary)
    return rows.values(*_COLUMNS.values())


def history_rows(*, fetched_by, filters: HistoryFilters = HistoryFilters(), now=None) -> HistoryRows:
    """The rows `fetched_by` may see, newest first (ties: type, then id, descending), as dicts with the
    `_COLUMNS` annotations; `history_row()` gives the public keys. Without `since`, the last seven days."""
    since = filters.since if filters.since is not None else default_since(now)
    kinds = [filters.type] if filters.type else list(SOURCES)
    filtered = {kind: _source_filtered(SOURCES[kind], fetched_by, filters, since) for kind in kinds}
    return HistoryRows([_source_rows(kind, SOURCES[kind], rows) for kind, rows in filtered.items()],
                       [rows.values("created_at") for rows in filtered.values()])


_ORDER = ("-h_created_at", "-h_type", "-h_id")


class HistoryRows:
    """The combined rows, read the way a page needs them (what paginators and tables call: count, slices, len,
    iteration). Counting and paging a UNION ALL of whole sources costs as much as the window holds; here a count
    reads only the sources' (tenant, created_at) indexes, and a slice asks each source for its own newest `stop`
    rows first, so one page costs the same at 10k or 1M rows (bench/scale.py, P4)."""

    # What django-tables2 asks of a queryset-like source (it would read a plain iterable whole): no model, and no
    # ordering to reflect in sortable headers, because the order is fixed.
    model = None
    query = SimpleNamespace(order_by=())

    def __init__(self, parts: list[QuerySet], slim: list[QuerySet]):
        self._parts = parts
        self._slim = slim  # the same rows, without the joined names: what counting needs
        self._count = None

    def order_by(self, *fields) -> HistoryRows:
        if fields:
            raise TypeError("history rows come in one order (newest first)")
        return self

    def _combined(self, parts) -> QuerySet:
        combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        return combined.order_by(*_ORDER)

    def count(self) -> int:
        if self._count is None:
            slim = self._slim
            self._count = (slim[0].union(*slim[1:], all=True) if len(slim) > 1 else slim[0]).count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key):
        if isinstance(key, int):
            return self[key:key + 1][0] if key >= 0 else list(self)[key]
        if key.step is not None or key.stop is None or (key.start or 0) < 0 or key.stop < 0:
            return list(self)[key]
        if key.stop <= (key.start or 0):
            # An empty slice (the paginator's page of an empty window): Django turns each part into an empty
            # queryset, which `union()` would hand back still sliced, and a sliced query cannot be ordered.
            return []
        if len(self._parts) == 1 or not connection.features.supports_slicing_ordering_in_compound:  # SQLite
            return list(self._combined(self._parts)[key])
        parts = [part.order_by("-h_created_at", "-h_id")[:key.stop] for part in self._parts]
        return list(self._combined(parts)[key])

    def __iter__(self):
        return iter(self._combined(self._parts))

    def iterator(self, chunk_size: int = 2000):
        return self._combined(self._parts).iterator(chunk_size=chunk_size)


def history_row(raw: dict) -> dict:
    return {key: raw[column] for key, column in _COLUMNS.items()}


def csv_line(row: dict) -> list:
    return [row["type"], row["id"], row["environment_id"], row["environment"], row["user"], row["state"],
            row["created_at"].isoformat(), row["finished_at"].isoformat() if row["finished_at"] else "",
            row["summary"]]


# Jobs the retention may delete: no worker drives them any more. An available backup is left alone: its image
# still exists in AWS and its schedule's retention deletes it through its row.
RETAINED_UNTIL_GONE = {BackupState.AVAILABLE}
TERMINAL_STATES = {
    "migration": frozenset({MigrationState.COMPLETED, MigrationState.FAILED, MigrationState.CANCELLED}),
    "export": frozenset({ExportState.COMPLETED, ExportState.FAILED, ExportState.CANCELLED}),
    "backup": frozenset({BackupState.FAILED, BackupState.CANCELLED, BackupState.DELETED}),
    "launch": frozenset({LaunchState.COMPLETED, LaunchState.FAILED}),
}


# A completed job whose results in AWS were not tagged yet (it completed before the tag existed; the orphan sweep
# tags them) keeps its row: without the row or the tag, nothing would tell the sweep those results are not orphans.
UNTAGGED_RESULTS = {
    "migration": Q(state=MigrationState.COMPLETED, results_tagged=False) & (~Q(instance_id="") | ~Q(image_id="")),
    "export": Q(state=ExportState.COMPLETED, results_tagged=False) & ~Q(s3_key=""),
}


def expired_jobs(kind: str, *, before: datetime.datetime) -> QuerySet:
    """Finished jobs of one type created before `before` (all tenants: the retention is the platform's)."""
    model = SOURCES[kind].model
    expired = model.objects.filter(Q(created_at__lt=before) & Q(state__in=sorted(TERMINAL_STATES[kind])))
    if kind in UNTAGGED_RESULTS:
        expired = expired.exclude(UNTAGGED_RESULTS[kind])
    return expired
