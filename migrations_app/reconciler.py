"""The safety net that runs every minute: restart jobs whose worker died or whose wake-up is due (should its
schedule have been lost), and admit queued jobs where slots are free (a slot freed while no transition could
admit, say after a crash). Safe to run any number of times, anywhere."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from migrations_app.choices import WORKABLE, MigrationState
from migrations_app.models import MigrationTask
from migrations_app.queue import enqueue_tick
from migrations_app.transitions import migration_admit

logger = logging.getLogger("portal.migrations.reconciler")


def migration_reconcile() -> dict:
    now = timezone.now()
    quiet_for = timezone.timedelta(seconds=settings.MIGRATION_LEASE_SECONDS)
    # A job is stale when its lease ran out and nobody has beaten its heartbeat for a whole lease period, unless
    # it is waiting on purpose (a conversion poll or a retry's backoff not yet due: its schedule wakes it).
    stale = MigrationTask.objects.filter(state__in=WORKABLE).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - quiet_for)).filter(
        Q(wake_at__isnull=True) | Q(wake_at__lte=now))
    restarted = []
    for task_id in stale.values_list("pk", flat=True):
        # Stamping the heartbeat (only if still stale: a worker may have claimed it meanwhile) keeps the next run
        # from enqueueing the same job again while it waits for a worker.
        if stale.filter(pk=task_id).update(heartbeat_at=now):
            enqueue_tick(task_id)
            restarted.append(task_id)
    admitted = []
    for region_id in MigrationTask.objects.filter(state=MigrationState.QUEUED).values_list(
            "region_id", flat=True).distinct():
        admitted += migration_admit(region_id=region_id)
    if restarted or admitted:
        logger.info("reconciler restarted %s and admitted %s", restarted, admitted)
    return {"restarted": restarted, "admitted": admitted}
