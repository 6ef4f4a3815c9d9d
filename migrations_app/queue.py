"""Enqueueing migration ticks: ids only, and only once the transaction that made the job workable commits."""

from django.db import transaction


def enqueue_tick(task_id: int) -> None:
    def send():
        from django_q.tasks import async_task

        async_task("migrations_app.tasks.migration_tick", task_id, task_name=f"migration-{task_id}-tick",
                   group="migrations")

    transaction.on_commit(send)
