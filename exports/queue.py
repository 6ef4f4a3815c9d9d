"""Enqueueing export ticks: ids only, and only once the transaction that made the job workable commits, on the
cluster of the job's tenant (its connector, or the shared one; see portal.core.connectors.routing)."""

from django.db import transaction

from exports.models import ExportTask
from portal.core.connectors.routing import accept_tick, tick_cluster


def _tenant(task_id: int) -> int | None:
    return ExportTask.objects.filter(pk=task_id).values_list("tenant_id", flat=True).first()


def enqueue_tick(task_id: int) -> None:
    tenant_id = _tenant(task_id)
    cluster = None if tenant_id is None else tick_cluster(tenant_id)

    def send():
        from django_q.tasks import async_task

        async_task("exports.tasks.export_tick", task_id, task_name=f"export-{task_id}-tick", group="exports",
                   cluster=cluster)

    transaction.on_commit(send)


def tick_accepted(task_id: int) -> bool:
    """Called first by every tick: False (and the tick re-sent to the right cluster) when it runs on a cluster
    that is not its tenant's."""
    tenant_id = _tenant(task_id)
    if tenant_id is None:
        return True  # the job is gone; the tick finds that out itself
    return accept_tick(kind="export", job_id=task_id, tenant_id=tenant_id, resend=lambda: enqueue_tick(task_id))
