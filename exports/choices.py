"""Export states and the only transitions between them, and how AWS's export phases read as progress."""

from django.db import models


class ExportState(models.TextChoices):
    QUEUED = "queued", "Queued"
    EXPORTING = "exporting", "Exporting"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"


S = ExportState
TERMINAL = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED})
# States that hold one of the region's export slots. AWS counts a cancelling export task against its own limit
# of export tasks in progress, so the slot is freed only once the cancel has finished.
ACTIVE = frozenset({S.EXPORTING, S.CANCELLING})
# States a worker drives (a lease is taken to work on them).
WORKABLE = ACTIVE
# States in which the export may still touch its instance: at most one such export per instance.
LIVE = WORKABLE | {S.QUEUED}

ALLOWED_TRANSITIONS: dict[str, frozenset] = {
    S.QUEUED: frozenset({S.EXPORTING, S.CANCELLED, S.FAILED}),
    S.EXPORTING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLING}),
    S.CANCELLING: frozenset({S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

# DescribeExportTasks has a State and a free-text StatusMessage but no percentage: the phases it is known to
# report (pending, converting, uploading, finalizing) stand for a rough progress; other text keeps the last one.
PHASE_PROGRESS = {"pending": 5, "converting": 30, "uploading": 60, "finalizing": 90}

# What the exported object is: a stream-optimized VMDK inside an OVA, for VMware.
TARGET_ENVIRONMENT = "vmware"
DISK_IMAGE_FORMAT = "VMDK"
CONTAINER_FORMAT = "ova"

# Tags the portal puts on the AWS export task; the intent tag finds it again after a crash.
INTENT_TAG = "portal-export-intent"
