"""Enqueueing delivery attempts: ids only, once the transaction that wrote the delivery commits."""

from django.db import transaction


def enqueue_delivery(delivery_id: int) -> None:
    def send():
        from django_q.tasks import async_task

        async_task("core.notifications.tasks.webhook_deliver", delivery_id,
                   task_name=f"webhook-delivery-{delivery_id}", group="notifications")

    transaction.on_commit(send)
