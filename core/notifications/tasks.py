"""django-q2 entry points: ids only, the work in `delivery`."""


def webhook_deliver(delivery_id: int) -> str:
    from core.notifications.delivery import delivery_attempt

    return delivery_attempt(delivery_id)


def webhook_retry_due() -> int:
    """Scheduled every minute (migration 0002 creates the schedule): retries whose backoff has passed."""
    from core.notifications.delivery import deliveries_due

    return len(deliveries_due())
