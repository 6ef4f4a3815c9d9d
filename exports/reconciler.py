"""The safety net that runs every minute: restart exports whose worker died, and admit queued exports where slots
are free (a slot freed while no transition could admit, say after a crash). Safe to run any number of times,
anywhere."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from exports.choices import WORKABLE, ExportState
from exports.models import ExportTask
from exports.queue import enqueue_tick
from exports.transitions import export_admit

logger = logging.getLogger("portal.exports.reconciler")


def export_reconcile() -> dict:
    now = timezone.now()
    quiet_for = timezone.timedelta(seconds=settings.EXPORT_LEASE_SECONDS)
    # Stale: the lease ran out and nobody has beaten the heartbeat for a whole lease period. A job waiting between
    # two polls of AWS holds no lease either; it is re-enqueued the same way, which is how it is polled.
    stale = ExportTask.objects.filter(state__in=WORKABLE).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - quiet_for))
    restarted = []
    for task_id in stale.values_list("pk", flat=True):
        # Stamping the heartbeat (only if still stale: a worker may have claimed it meanwhile) keeps the next run
        # from enqueueing the same job again while it waits for a worker.
        if stale.filter(pk=task_id).update(heartbeat_at=now):
            enqueue_tick(task_id)
            restarted.append(task_id)
    admitted = []
    for region_id in ExportTask.objects.filter(state=ExportState.QUEUED).values_list(
            "region_id", flat=True).distinct():
        admitted += export_admit(region_id=region_id)
    if restarted or admitted:
        logger.info("export reconciler restarted %s and admitted %s", restarted, admitted)
    return {"restarted": restarted, "admitted": admitted}
