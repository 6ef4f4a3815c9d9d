"""The safety net of environment jobs, run every minute: hand jobs whose worker died to a new tick, and finish
retention a crashed worker left undone. Safe to run any number of times, anywhere."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Count, F, Q
from django.utils import timezone

from environments.backups.choices import BackupState
from environments.backups.models import BackupSchedule, BackupTask
from environments.backups.retention import retention_apply
from environments.jobs.queue import enqueue_tick
from environments.launches.models import LaunchTask

logger = logging.getLogger("portal.environments.reconciler")


def _restart_stale(model, now) -> list[int]:
    quiet_for = timezone.timedelta(seconds=settings.ENVIRONMENT_JOB_LEASE_SECONDS)
    # Stale: the lease ran out and nobody beat the heartbeat for a whole lease period (a job never picked up, its
    # tick lost with a Redis broker, counts too once it has waited that long).
    stale = model.objects.filter(state__in=model.WORKABLE).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)).filter(
        Q(heartbeat_at__lt=now - quiet_for) | Q(heartbeat_at__isnull=True, updated_at__lt=now - quiet_for))
    restarted = []
    for task_id in stale.values_list("pk", flat=True):
        # Stamping the heartbeat (only if still stale) keeps the next run from enqueueing it again meanwhile.
        if stale.filter(pk=task_id).update(heartbeat_at=now):
            enqueue_tick(model, task_id)
            restarted.append(task_id)
    return restarted


def jobs_reconcile() -> dict:
    now = timezone.now()
    report = {"backups": _restart_stale(BackupTask, now), "launches": _restart_stale(LaunchTask, now)}
    over = BackupSchedule.objects.annotate(available=Count("backups", filter=Q(
        backups__state=BackupState.AVAILABLE))).filter(available__gt=F("keep_last")).values_list("pk", flat=True)
    report["expired"] = [task_id for schedule_id in over for task_id in retention_apply(schedule_id=schedule_id)]
    if any(report.values()):
        logger.info("environment jobs reconciled: %s", report)
    return report
