"""Enqueueing export ticks: ids only, and only once the transaction that made the job workable commits."""

from django.db import transaction


def enqueue_tick(task_id: int) -> None:
    def send():
        from django_q.tasks import async_task

        async_task("exports.tasks.export_tick", task_id, task_name=f"export-{task_id}-tick", group="exports")

    transaction.on_commit(send)
