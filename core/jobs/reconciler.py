"""The one safety net, run every minute for every kind: restart jobs whose worker died or whose wake-up is due
(should its schedule have been lost), and admit queued jobs where slots are free (a slot freed while no transition
could admit, say after a crash). Safe to run any number of times, anywhere."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from core.jobs.kinds import kinds
from core.jobs.queue import enqueue_tick
from core.jobs.transitions import admit

logger = logging.getLogger("portal.jobs.reconciler")


def restart_stale(kind, now) -> list[int]:
    quiet_for = timezone.timedelta(seconds=kind.setting("LEASE_SECONDS"))
    # Stale: the lease ran out and nobody has beaten its heartbeat for a whole lease period (a job never picked
    # up, its tick lost with a Redis broker, counts once it has waited that long), unless it waits on purpose (a
    # poll or a retry's backoff not yet due: its schedule wakes it).
    stale = kind.model.objects.filter(state__in=kind.workable).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)).filter(
        Q(heartbeat_at__lt=now - quiet_for) | Q(heartbeat_at__isnull=True, updated_at__lt=now - quiet_for)).filter(
        Q(wake_at__isnull=True) | Q(wake_at__lte=now))
    restarted = []
    for job_id in stale.values_list("pk", flat=True):
        # Stamping the heartbeat (only if still stale: a worker may have claimed it meanwhile) keeps the next run
        # from enqueueing the same job again while it waits for a worker.
        if stale.filter(pk=job_id).update(heartbeat_at=now):
            enqueue_tick(kind, job_id)
            restarted.append(job_id)
    return restarted


def reconcile() -> dict:
    now = timezone.now()
    report = {}
    for kind in kinds():
        restarted = restart_stale(kind, now)
        admitted = []
        if kind.admission:
            for scope in kind.admission_policy().waiting_scopes():
                admitted += admit(kind, scope=scope)
        report[kind.name] = {"restarted": restarted, "admitted": admitted}
        if restarted or admitted:
            logger.info("%s: restarted %s and admitted %s", kind.name, restarted, admitted)
    return report
