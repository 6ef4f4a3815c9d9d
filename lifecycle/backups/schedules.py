"""Backup schedules on django-q2: each BackupSchedule owns one CRON `Schedule` row, and a run of it is
`schedule_fire`, which starts at most one backup however often it is delivered.

Missed runs: with `catch_up` False (settings.Q_CLUSTER), and for CRON schedules in any case, the scheduler
computes the next run from now, so a scheduler that was down fires once, not once per missed period. Should
several runs still reach the queue (a backlog behind busy workers, a broker that delivers twice), the run
compares its intended time with the schedule's `last_fired_at` and does nothing for a time already covered."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_q.models import Schedule

from core.audit import audit_record
from core.audit_actions import AuditAction
from core.errors import Conflict, Forbidden
from core.models import AuditOutcome
from lifecycle.backups.models import BackupSchedule

logger = logging.getLogger("portal.lifecycle.backups")

FIRE_FUNC = "lifecycle.tasks.backup_schedule_fire"
INTENDED_KWARG = "intended_for"


def q_schedule_name(schedule_id: int) -> str:
    return f"backup-schedule-{schedule_id}"


def q_schedule_sync(schedule: BackupSchedule) -> Schedule:
    """Create or update the schedule's django-q2 row (inside the caller's transaction). A disabled schedule keeps
    its row with `repeats=0`, which the scheduler skips."""
    q = schedule.q_schedule or Schedule(name=q_schedule_name(schedule.pk), func=FIRE_FUNC)
    # A new, changed or re-enabled schedule next runs at its next cron time, computed as the scheduler will (never
    # "now", the model's default); otherwise a due run is left due, so editing keep_last skips nothing.
    restart = q.pk is None or q.cron != schedule.cron or (q.repeats == 0 and schedule.enabled)
    q.args = repr(schedule.pk)
    q.schedule_type = Schedule.CRON
    q.cron = schedule.cron
    q.repeats = -1 if schedule.enabled else 0
    q.intended_date_kwarg = INTENDED_KWARG
    if restart:
        q.next_run = q.calculate_next_run()
    q.full_clean()
    q.save()
    return q


def q_schedule_remove(schedule: BackupSchedule) -> None:
    Schedule.objects.filter(name=q_schedule_name(schedule.pk)).delete()


def schedule_fire(schedule_id: int, intended_for: str | None = None) -> str:
    """One run of a schedule: start a backup of its instance unless this run's time is already covered, one is
    still running, or the schedule's creator may no longer back it up. Returns what happened."""
    from lifecycle.backups.services import backup_start

    intended = (parse_datetime(intended_for) if intended_for else None) or timezone.now()
    with transaction.atomic():
        schedule = BackupSchedule.objects.select_for_update().select_related(
            "instance__environment", "instance__tenant", "created_by").filter(pk=schedule_id).first()
        if schedule is None:
            Schedule.objects.filter(name=q_schedule_name(schedule_id)).delete()  # its owner is gone
            return "gone"
        if not schedule.enabled:
            return "disabled"
        if schedule.last_fired_at is not None and schedule.last_fired_at >= intended:
            return "already_ran"
        BackupSchedule.objects.filter(pk=schedule.pk).update(last_fired_at=timezone.now())
        try:
            with transaction.atomic():
                task = backup_start(actor=schedule.created_by, instance=schedule.instance, reboot=schedule.reboot,
                                    schedule=schedule)
        except Conflict as exc:
            audit_record(actor=None, action=AuditAction.BACKUP_SCHEDULE_SKIPPED, obj=schedule, tenant=schedule.tenant,
                         outcome=AuditOutcome.FAILED, detail={"reason": exc.code, "message": exc.message})
            return "busy"
        except Forbidden as exc:
            audit_record(actor=None, action=AuditAction.BACKUP_SCHEDULE_SKIPPED, obj=schedule, tenant=schedule.tenant,
                         outcome=AuditOutcome.DENIED, detail={"reason": exc.code, "message": exc.message})
            return "not_permitted"
    logger.info("backup schedule %s started backup %s", schedule_id, task.pk)
    return "started"
