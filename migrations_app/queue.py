"""Enqueueing migration ticks: ids only, and only once the transaction that made the job workable commits. A job
that waits (the next conversion poll, a retry after backoff) holds no worker: it is woken by a one-off django-q2
schedule at its `wake_at` (the cluster's scheduler runs about every 30 s, which is plenty for imports that take
minutes), and the reconciler restarts it from `wake_at` should that schedule be lost."""

from django.db import transaction

from migrations_app.models import MigrationTask
from portal.core.connectors.routing import accept_tick, tick_cluster


def _cluster(task_id: int) -> str | None:
    tenant_id = MigrationTask.objects.filter(pk=task_id).values_list("tenant_id", flat=True).first()
    return None if tenant_id is None else tick_cluster(tenant_id)


def wake_schedule_name(task_id: int) -> str:
    return f"migration-{task_id}-wake"


def enqueue_tick(task_id: int) -> None:
    """Queue one tick on the cluster of the job's tenant (its connector, or the shared one), decided now."""
    cluster = _cluster(task_id)

    def send():
        from django_q.tasks import async_task

        async_task("migrations_app.tasks.migration_tick", task_id, task_name=f"migration-{task_id}-tick",
                   group="migrations", cluster=cluster)

    transaction.on_commit(send)


def tick_accepted(task_id: int) -> bool:
    """Called first by every tick: False (and the tick re-sent to the right cluster) when it runs on a cluster
    that is not its tenant's."""
    tenant_id = MigrationTask.objects.filter(pk=task_id).values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        return True  # the job is gone; the tick finds that out itself
    return accept_tick(kind="migration", job_id=task_id, tenant_id=tenant_id, resend=lambda: enqueue_tick(task_id))


def schedule_tick(task_id: int, at) -> None:
    """One tick at `at`, replacing any earlier wake-up of the same job (one pending wake-up per job)."""
    from django_q.models import Schedule

    name = wake_schedule_name(task_id)
    with transaction.atomic():
        Schedule.objects.filter(name=name).delete()
        # repeats=-1: the scheduler deletes a ONCE schedule once it has fired.
        # `cluster`: the connector's own scheduler fires it there (a schedule without one runs on the default).
        Schedule.objects.create(name=name, func="migrations_app.tasks.migration_tick", args=repr((task_id,)),
                                schedule_type=Schedule.ONCE, repeats=-1, next_run=at, cluster=_cluster(task_id))


def unschedule_tick(task_id: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=wake_schedule_name(task_id)).delete()
