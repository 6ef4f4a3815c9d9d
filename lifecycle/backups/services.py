"""Writes for AMI backups and their schedules: start, cancel, and the schedule's create, update and delete (each
keeping its django-q2 CRON schedule in step)."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from core.audit import audit_record
from core.audit_actions import AuditAction
from core.errors import Conflict, Forbidden, InvariantViolation
from core.jobs.transitions import admit, cancel_asked
from core.models import AuditOutcome, User
from core.roles import Action
from core.validation import model_update, same_tenant, validated_save
from environments import services as environment_services
from environments.models import ImportedInstance, Template
from lifecycle.backups import choices
from lifecycle.backups.choices import BackupState
from lifecycle.backups.job import BACKUP
from lifecycle.backups.models import BackupSchedule, BackupTask
from lifecycle.backups.schedules import q_schedule_remove, q_schedule_sync


def _require_operate(actor: User, instance: ImportedInstance, action: AuditAction) -> None:
    """Callers pass restricted rows; a schedule's run acts for its creator, whose role may have changed since."""
    if not ImportedInstance.objects.restrict(actor, Action.OPERATE).filter(pk=instance.pk).exists():
        audit_record(actor=actor, action=action, obj=instance, outcome=AuditOutcome.DENIED,
                     detail={"reason": "no_general_role"})
        raise Forbidden("Backing up an instance needs the general role on its environment.", code="not_permitted")


def _running_backup(instance: ImportedInstance) -> BackupTask | None:
    return BackupTask.objects.filter(instance=instance, state__in=choices.LIVE).first()


def backup_start(*, actor: User, instance: ImportedInstance, reboot: bool = False,
                 schedule: BackupSchedule | None = None) -> BackupTask:
    """Queue a backup of the instance; refused (409, naming the running one) while another backup of it runs."""
    same_tenant(actor, instance)
    _require_operate(actor, instance, AuditAction.BACKUP_CREATE)
    with transaction.atomic():
        # The instance row is the lock: two requests (or a request and a schedule) cannot both pass the check.
        ImportedInstance.objects.select_for_update().filter(pk=instance.pk).values_list("pk", flat=True).get()
        running = _running_backup(instance)
        if running is not None:
            raise Conflict(f"Backup {running.pk} of {instance.instance_id} is still running; wait for it to finish.",
                           code="backup_running")
        token = uuid.uuid4().hex
        task = BackupTask(
            tenant=instance.tenant, environment=instance.environment, instance=instance, schedule=schedule,
            created_by=actor, reboot=reboot, client_token=f"backup-{token}",
            image_name=f"portal-backup-{instance.instance_id}-{token[:12]}", status_message="Queued")
        try:
            with transaction.atomic():
                validated_save(task)
        except IntegrityError as exc:  # the partial unique constraint: the database's word on "one at a time"
            raise Conflict(f"A backup of {instance.instance_id} is already running.", code="backup_running") from exc
        audit_record(actor=actor, action=AuditAction.BACKUP_CREATE, obj=task, detail={
            "instance": instance.instance_id, "reboot": reboot, "schedule": schedule.pk if schedule else None})
        admit(BACKUP, scope=instance.environment.region_id)
    return task


def backup_cancel(*, actor: User, task: BackupTask) -> BackupTask:
    """Idempotent. A queued backup ends at once; one being created moves to `cancelling` and a worker deregisters
    whatever image it made (with its snapshots). Finished backups are left as they are."""
    same_tenant(actor, task)
    return cancel_asked(BACKUP, task, actor=actor)


#
# Schedules
#

SCHEDULE_FIELDS = ("cron", "keep_last", "reboot", "enabled")


@transaction.atomic
def backup_schedule_create(*, actor: User, instance: ImportedInstance, data: dict) -> BackupSchedule:
    same_tenant(actor, instance)
    _require_operate(actor, instance, AuditAction.BACKUP_SCHEDULE_CREATE)
    schedule = BackupSchedule(tenant=instance.tenant, environment=instance.environment, instance=instance,
                              created_by=actor)
    model_update(instance=schedule, fields=SCHEDULE_FIELDS, data=data)
    schedule.q_schedule = q_schedule_sync(schedule)
    schedule.save(update_fields=["q_schedule", "updated_at"])
    audit_record(actor=actor, action=AuditAction.BACKUP_SCHEDULE_CREATE, obj=schedule, detail={
        "instance": instance.instance_id, "cron": schedule.cron, "keep_last": schedule.keep_last,
        "reboot": schedule.reboot})
    return schedule


@transaction.atomic
def backup_schedule_update(*, actor: User, schedule: BackupSchedule, data: dict) -> BackupSchedule:
    from lifecycle.backups.retention import retention_apply

    same_tenant(actor, schedule)
    before = {field: getattr(schedule, field) for field in data}
    model_update(instance=schedule, fields=SCHEDULE_FIELDS, data=data)
    schedule.q_schedule = q_schedule_sync(schedule)
    schedule.save(update_fields=["q_schedule", "updated_at"])
    audit_record(actor=actor, action=AuditAction.BACKUP_SCHEDULE_UPDATE, obj=schedule,
                 detail={"before": before, "after": data})
    if "keep_last" in data and data["keep_last"] != before["keep_last"]:
        schedule_id = schedule.pk
        transaction.on_commit(lambda: retention_apply(schedule_id=schedule_id))
    return schedule


@transaction.atomic
def backup_schedule_delete(*, actor: User, schedule: BackupSchedule) -> None:
    """The schedule stops; its images stay (no longer under its retention) and its backups keep their history."""
    same_tenant(actor, schedule)
    audit_record(actor=actor, action=AuditAction.BACKUP_SCHEDULE_DELETE, obj=schedule,
                 detail={"instance_id": schedule.instance_id, "cron": schedule.cron})
    q_schedule_remove(schedule)
    schedule.delete()


#
# Backups become templates
#


@transaction.atomic
def template_create_from_backup(*, actor: User, backup: BackupTask, data: dict) -> Template:
    """A template of the backup's environment whose image is the backup's AMI, in one step. `data` carries the
    other template fields (name, description, instance type, subnet, security group, key pair)."""
    same_tenant(actor, backup)
    if "ami_id" in data:
        raise InvariantViolation("the image of a template made from a backup is the backup's")
    if backup.state != BackupState.AVAILABLE or not backup.image_id:
        raise Conflict(f"Backup {backup.pk} is {backup.get_state_display().lower()}; only an available backup can "
                       "become a template.", code="backup_not_available")
    # The image is the backup's own, which AWS reported available to this tenant: no second look.
    template = environment_services.template_save(actor=actor, template=Template(tenant=backup.tenant, environment=backup.environment,
                                                             created_by=actor),
                              data={**data, "ami_id": backup.image_id}, action=AuditAction.TEMPLATE_CREATE)
    audit_record(actor=actor, action=AuditAction.TEMPLATE_FROM_BACKUP, obj=template,
                 detail={"backup": backup.pk, "image_id": backup.image_id})
    return template
