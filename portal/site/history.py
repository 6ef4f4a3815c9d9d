"""The seven-day task history: one read over every job of the tenant, of each kind registered with `history`
(`core.jobs.kinds`: migrations, exports, backups, launches).

Each kind's table goes through `restrict(user, VIEW)`, is reduced to the same columns (`.values()` of annotations,
in one order) and they are combined with UNION ALL; ordering, counting and slicing happen in the database, so one
page costs the same few queries whatever the tables hold.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from types import SimpleNamespace

from django.db import connection
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from core.jobs.kinds import JobKind, kind, kinds
from core.models import AuditLog
from core.querysets import Need
from core.roles import Action

HISTORY_DAYS = 7
# Administrators and auditors read the history, like the audit log; plain users are refused.
READ_HISTORY = Need(Action.VIEW, of=AuditLog)


def _nonblank(*names):
    if not names:
        return Value("", output_field=CharField())
    return Coalesce(*(NullIf(F(name), Value("")) for name in names), Value(""), output_field=CharField())


def history_kinds() -> list[JobKind]:
    return [job_kind for job_kind in kinds() if job_kind.history]


# Functions, not constants: the kinds register in their apps' `ready()`, after this module may have been imported.
def history_types() -> tuple[str, ...]:
    return tuple(job_kind.name for job_kind in history_kinds())


def history_states() -> tuple[str, ...]:
    return tuple(sorted({state for job_kind in history_kinds() for state in job_kind.states}))


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


def _source_filtered(job_kind: JobKind, user, filters: HistoryFilters, since) -> QuerySet:
    rows = job_kind.model.objects.restrict(user, Action.VIEW).filter(created_at__gte=since)
    if filters.until is not None:
        rows = rows.filter(created_at__lt=filters.until)
    if filters.environment is not None:
        rows = rows.filter(environment_id=filters.environment)
    if filters.user is not None:
        rows = rows.filter(created_by_id=filters.user)
    if filters.state:
        rows = rows.filter(state=filters.state)
    return rows.order_by()


def _source_rows(job_kind: JobKind, rows: QuerySet) -> QuerySet:
    rows = rows.annotate(
        h_type=Value(job_kind.name, output_field=CharField()), h_id=F("id"), h_environment_id=F("environment_id"),
        h_environment=F("environment__name"), h_user_id=F("created_by_id"), h_user=F("created_by__username"),
        h_state=F("state"), h_created_at=F("created_at"), h_finished_at=F("finished_at"),
        h_summary=_nonblank(*job_kind.describe))
    return rows.values(*_COLUMNS.values())


def history_rows(*, fetched_by, filters: HistoryFilters = HistoryFilters(), now=None) -> HistoryRows:
    """The rows `fetched_by` may see, newest first (ties: type, then id, descending), as dicts with the
    `_COLUMNS` annotations; `history_row()` gives the public keys. Without `since`, the last seven days."""
    since = filters.since if filters.since is not None else default_since(now)
    chosen = [kind(filters.type)] if filters.type else history_kinds()
    filtered = [(job_kind, _source_filtered(job_kind, fetched_by, filters, since)) for job_kind in chosen]
    return HistoryRows([_source_rows(job_kind, rows) for job_kind, rows in filtered],
                       [rows.values("created_at") for _, rows in filtered])


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


def csv_lines(rows: QuerySet):
    """The CSV of these history rows, header first, read in chunks (an export may hold every row of a week)."""
    yield CSV_HEADER
    for row in rows.iterator():
        yield csv_line(history_row(row))


def expired_jobs(job_kind: JobKind, *, before: datetime.datetime) -> QuerySet:
    """Finished jobs of one kind created before `before` (all tenants: the retention is the platform's), but for
    those its declaration retains."""
    expired = job_kind.model.objects.filter(Q(created_at__lt=before) & Q(state__in=sorted(job_kind.expirable)))
    if job_kind.retained_if is not None:
        expired = expired.exclude(job_kind.retained_if)
    return expired
