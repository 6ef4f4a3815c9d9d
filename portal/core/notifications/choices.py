"""The events a tenant can be notified of, and the states of a webhook delivery."""

from django.db import models


class Event(models.TextChoices):
    MIGRATION_COMPLETED = "migration.completed", "Migration completed"
    MIGRATION_FAILED = "migration.failed", "Migration failed"
    EXPORT_COMPLETED = "export.completed", "Export completed"
    EXPORT_FAILED = "export.failed", "Export failed"
    BACKUP_COMPLETED = "backup.completed", "Backup completed"
    BACKUP_FAILED = "backup.failed", "Backup failed"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


# A job's terminal state -> the outcome its event names. Cancelled jobs notify nobody: someone chose that.
OUTCOME_OF_STATE = {"completed": "completed", "available": "completed", "failed": "failed"}
