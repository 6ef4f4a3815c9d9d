"""Ticks: ids only, sent once the transaction that made the job workable commits, to the shared workers (the
default django-q2 cluster, every `manage.py qcluster` process; each tick claims its job's lease, so which worker
takes it does not matter). A job that waits (the next poll, a retry after backoff) holds no worker: a one-off
django-q2 schedule wakes it at its `wake_at` (the cluster's scheduler runs about every 30 s, plenty for work that
takes minutes), and the reconciler restarts it from `wake_at` should that schedule be lost."""

from __future__ import annotations

from django.db import transaction

TICK = "core.jobs.tasks.job_tick"


def wake_schedule_name(kind, job_id: int) -> str:
    return f"{kind.name}-{job_id}-wake"


def enqueue_tick(kind, job_id: int) -> None:
    """Queue one tick for the shared workers."""

    def send():
        from django_q.tasks import async_task

        async_task(TICK, kind.name, job_id, task_name=f"{kind.name}-{job_id}-tick", group=f"{kind.name}s")

    transaction.on_commit(send)


def schedule_tick(kind, job_id: int, at) -> None:
    """One tick at `at`, replacing any earlier wake-up of the same job (one pending wake-up per job)."""
    from django_q.models import Schedule

    name = wake_schedule_name(kind, job_id)
    with transaction.atomic():
        Schedule.objects.filter(name=name).delete()
        # repeats=-1: the scheduler deletes a ONCE schedule once it has fired. No `cluster`: any worker fires it.
        Schedule.objects.create(name=name, func=TICK, args=repr((kind.name, job_id)), schedule_type=Schedule.ONCE,
                                repeats=-1, next_run=at)


def unschedule_tick(kind, job_id: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=wake_schedule_name(kind, job_id)).delete()
