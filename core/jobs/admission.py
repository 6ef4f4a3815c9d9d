"""The one admission interface: a kind declares who may start (its limits) and the engine starts them.

A policy answers three questions about the kind's queued jobs, all by scope (the region a job runs in): which may
start now (`admissible`, called inside the engine's transaction, under the locks the policy takes), where jobs wait
(`waiting_scopes`, for the reconciler), and what place each waiting job is shown (`queue_positions`, the same order
admission uses, so what users see is what happens)."""

from __future__ import annotations

from django.db.models import Count

from core.models import Tenant


class Admission:
    """Subclasses decide `admissible`; `kind_name`, `scope_field` and `started` are set by a subclass or given to
    the constructor."""

    kind_name: str = ""
    # The job's field naming its scope: "region_id", or "environment__region_id" for jobs that reach it through
    # their environment.
    scope_field: str = "region_id"
    # The state an admitted job moves to.
    started: str = ""

    def __init__(self, **declared):
        # A kind declares its policy's parameters here, `PerScopeLimit(kind_name="launch", ...)`, rather than in a
        # subclass of its own: the logic is the policy's, only the numbers and names are the kind's.
        for name, value in declared.items():
            if not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__} has no {name!r} to declare")
            setattr(self, name, value)

    @property
    def kind(self):
        from core.jobs.kinds import kind

        return kind(self.kind_name)

    def queued(self):
        waiting = self.kind.model.objects.filter(state=self.kind.queued)
        return waiting.filter(cancel_requested=False) if self.kind.records_cancel_requests else waiting

    def scope_of(self, job) -> int:
        return self.kind.model.objects.filter(pk=job.pk).values_list(self.scope_field, flat=True).get()

    def waiting_scopes(self) -> list[int]:
        return list(self.queued().values_list(self.scope_field, flat=True).distinct())

    def admissible(self, scope: int) -> list[int]:
        raise NotImplementedError

    def queue_positions(self, scopes) -> dict[int, int]:
        """First come, first served in each scope: 1 for the next job to start there."""
        positions: dict[int, int] = {}
        counters: dict[int, int] = {}
        for job_id, scope in self.queued().filter(**{f"{self.scope_field}__in": set(scopes)}).order_by(
                "created_at", "id").values_list("pk", self.scope_field):
            counters[scope] = counters.get(scope, 0) + 1
            positions[job_id] = counters[scope]
        return positions

    def queue_position(self, job) -> int | None:
        if job.state != self.kind.queued:
            return None
        return self.queue_positions([self.scope_of(job)]).get(job.pk)


class PerScopeLimit(Admission):
    """At most `limit()` of the kind's jobs hold a slot in one scope; the rest start oldest first.

    The limits this serves are AWS's per region of the tenant's own account (5 export tasks in progress, say), so
    tenants never compete for them. Counting happens under the tenant's row lock: concurrent submitters and
    several workers never admit more than the limit (under READ COMMITTED a lock on the jobs alone would not stop
    a concurrent insert); it is the first lock of every admission, so they cannot deadlock."""

    setting_name: str = ""

    def limit(self) -> int:
        from django.conf import settings

        return getattr(settings, self.setting_name)

    def admissible(self, scope: int) -> list[int]:
        kind = self.kind
        in_scope = kind.model.objects.filter(**{self.scope_field: scope})
        tenant_id = in_scope.values_list("tenant_id", flat=True).first()
        if tenant_id is None:
            return []
        Tenant.objects.select_for_update(no_key=True).filter(pk=tenant_id).values_list("pk", flat=True).get()
        active = in_scope.filter(state__in=kind.active).aggregate(n=Count("pk"))["n"]
        free = self.limit() - active
        if free <= 0:
            return []
        return list(self.queued().filter(**{self.scope_field: scope}).order_by("created_at", "id").values_list(
            "pk", flat=True)[:free])
