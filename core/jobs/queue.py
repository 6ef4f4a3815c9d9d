"""Ticks: ids only, sent once the transaction that made the job workable commits, to the cluster that must run the
job's tenant's work (its connector, or the shared one; `core.connectors.routing`). A job that waits (the
next poll, a retry after backoff) holds no worker: a one-off django-q2 schedule wakes it at its `wake_at` (the
cluster's scheduler runs about every 30 s, plenty for work that takes minutes), and the reconciler restarts it
from `wake_at` should that schedule be lost."""

from __future__ import annotations

from django.db import transaction

from core.connectors.routing import accept_tick, tick_cluster

TICK = "core.jobs.tasks.job_tick"


def _cluster(kind, job_id: int) -> str | None:
    tenant_id = kind.model.objects.filter(pk=job_id).values_list("tenant_id", flat=True).first()
    return None if tenant_id is None else tick_cluster(tenant_id)


def wake_schedule_name(kind, job_id: int) -> str:
    return f"{kind.name}-{job_id}-wake"


def enqueue_tick(kind, job_id: int) -> None:
    """Queue one tick on the cluster of the job's tenant, decided now."""
    cluster = _cluster(kind, job_id)

    def send():
        from django_q.tasks import async_task

        async_task(TICK, kind.name, job_id, task_name=f"{kind.name}-{job_id}-tick", group=f"{kind.name}s",
                   cluster=cluster)

    transaction.on_commit(send)


def tick_accepted(kind, job_id: int) -> bool:
    """Called first by every tick: False (and the tick re-sent to the right cluster) when it runs on a cluster
    that is not its tenant's."""
    tenant_id = kind.model.objects.filter(pk=job_id).values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        return True  # the job is gone; the tick finds that out itself
    return accept_tick(kind=kind.name, job_id=job_id, tenant_id=tenant_id,
                       resend=lambda: enqueue_tick(kind, job_id))


def schedule_tick(kind, job_id: int, at) -> None:
    """One tick at `at`, replacing any earlier wake-up of the same job (one pending wake-up per job)."""
    from django_q.models import Schedule

    name = wake_schedule_name(kind, job_id)
    with transaction.atomic():
        Schedule.objects.filter(name=name).delete()
        # repeats=-1: the scheduler deletes a ONCE schedule once it has fired.
        # `cluster`: the connector's own scheduler fires it there (a schedule without one runs on the default).
        Schedule.objects.create(name=name, func=TICK, args=repr((kind.name, job_id)), schedule_type=Schedule.ONCE,
                                repeats=-1, next_run=at, cluster=_cluster(kind, job_id))


def unschedule_tick(kind, job_id: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=wake_schedule_name(kind, job_id)).delete()
