"""Retention: a schedule keeps its last `keep_last` available images; older ones are deleted with their EBS
snapshots by a worker (state `deleting`, a durable step like any other).

Images a template anywhere in the tenant still uses are kept and not counted (an image is the account's, and a
template of another environment in the region may name it): deleting one would break the template. Once no
template uses it, the next pass deletes it. A deletion AWS refused leaves the backup available and is tried again
after an hour, not at every pass."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from core.jobs.queue import enqueue_tick
from core.jobs.transitions import transition
from environments.models import Template
from lifecycle.backups.choices import DELETE_REFUSED, DELETE_RETRY_AFTER_SECONDS, BackupState
from lifecycle.backups.models import BackupSchedule, BackupTask


def retention_apply(*, schedule_id: int) -> list[int]:
    """Move the schedule's images beyond its last `keep_last` to `deleting`; returns the backups' ids."""
    with transaction.atomic():
        schedule = BackupSchedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            return []
        in_use = Template.objects.filter(tenant_id=schedule.tenant_id).values_list("ami_id", flat=True)
        candidates = list(BackupTask.objects.filter(schedule=schedule, state=BackupState.AVAILABLE).exclude(
            image_id__in=in_use).order_by("-created_at", "-id").values_list("pk", flat=True)[schedule.keep_last:])
        refused = set(BackupTask.objects.filter(
            pk__in=candidates, error_code=DELETE_REFUSED,
            updated_at__gt=timezone.now() - timezone.timedelta(seconds=DELETE_RETRY_AFTER_SECONDS),
        ).values_list("pk", flat=True))
        expired = [task_id for task_id in candidates if task_id not in refused]
        for task_id in expired:
            moved = transition(BackupTask.job_kind, job_id=task_id, to=BackupState.DELETING,
                                   expected_from={BackupState.AVAILABLE}, step="deleting",
                                   status_message=f"Older than the last {schedule.keep_last} of its schedule; "
                                                  "deleting the image and its snapshots")
            if moved is not None:
                enqueue_tick(BackupTask.job_kind, task_id)
    return expired


def retention_sweep() -> list[int]:
    """Every schedule that keeps more images than it should (a worker crashed before applying its retention, or
    `keep_last` was lowered): apply it. Returns the backups moved to `deleting`."""
    over = BackupSchedule.objects.annotate(available=Count("backups", filter=Q(
        backups__state=BackupState.AVAILABLE))).filter(available__gt=F("keep_last")).values_list("pk", flat=True)
    return [task_id for schedule_id in over for task_id in retention_apply(schedule_id=schedule_id)]
