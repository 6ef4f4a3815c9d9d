"""Enqueueing job ticks: ids only, and only once the transaction that made the job workable commits."""

from django.db import transaction


def enqueue_tick(model, task_id: int) -> None:
    func, name = model.TICK, f"{model.AUDIT_NAME}-{task_id}-tick"

    def send():
        from django_q.tasks import async_task

        async_task(func, task_id, task_name=name, group=f"{model.AUDIT_NAME}s")

    transaction.on_commit(send)
