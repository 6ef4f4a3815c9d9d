"""The events a tenant can be notified of, and the states of a webhook delivery."""

from django.db import models

from core.jobs.kinds import kinds


def job_events() -> dict[str, str]:
    """Every event (value -> label): each registered kind announces its `notify` outcomes as <kind>.<outcome>
    (migration.completed, say), the values webhooks and preferences store."""
    return {event: label for kind in kinds() for event, label in kind.events().items()}


def event_choices() -> list[tuple[str, str]]:
    # A callable, not a list, wherever choices are declared: the kinds register once the apps are ready, and a new
    # kind's events then need no migration.
    return list(job_events().items())


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
