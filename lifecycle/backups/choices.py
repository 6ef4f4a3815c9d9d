"""Backup states and the only moves between them."""

from django.db import models


class BackupState(models.TextChoices):
    QUEUED = "queued", "Queued"
    CREATING = "creating", "Creating the image"
    AVAILABLE = "available", "Available"
    FAILED = "failed", "Failed"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"
    DELETING = "deleting", "Deleting (retention)"
    DELETED = "deleted", "Deleted"


S = BackupState
# A worker drives these.
WORKABLE = frozenset({S.QUEUED, S.CREATING, S.CANCELLING, S.DELETING})
# No worker drives these; an available backup may still be deleted later by its schedule's retention.
FINISHED = frozenset({S.AVAILABLE, S.FAILED, S.CANCELLED, S.DELETED})
# The instance is being imaged: one such backup per instance, enforced by the database.
LIVE = frozenset({S.QUEUED, S.CREATING, S.CANCELLING})

TRANSITIONS: dict[str, frozenset] = {
    S.QUEUED: frozenset({S.CREATING, S.CANCELLED, S.FAILED}),
    S.CREATING: frozenset({S.AVAILABLE, S.FAILED, S.CANCELLING}),
    S.CANCELLING: frozenset({S.CANCELLED}),
    # Retention deletes an available image; a deletion AWS refuses leaves it available for the next pass.
    S.AVAILABLE: frozenset({S.DELETING}),
    S.DELETING: frozenset({S.DELETED, S.AVAILABLE}),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.DELETED: frozenset(),
}

# EC2 image states that will never become available.
IMAGE_BROKEN_STATES = frozenset({"failed", "error", "invalid", "deregistered"})

# A deletion AWS refused is retried after this long (not at every reconciler minute).
DELETE_REFUSED = "delete_refused"
DELETE_RETRY_AFTER_SECONDS = 3600

# How many images one schedule may keep.
MAX_KEEP_LAST = 100

# The tags that tie AWS resources to a backup job; the token tag is how a resumed job finds its image.
TOKEN_TAG = "portal-backup-token"
BACKUP_TAG = "portal-backup"
SCHEDULE_TAG = "portal-backup-schedule"
