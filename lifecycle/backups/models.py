"""Backup jobs and schedules. `environments.models` imports them, so Django registers them in the app."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.jobs.models import DurableJob
from environments.models import Environment, EnvironmentResource, ImportedInstance
from lifecycle.backups import choices
from lifecycle.backups.choices import BackupState
from lifecycle.backups.cron import validate_cron


class BackupSchedule(EnvironmentResource):
    """A cron schedule that backs up one instance and keeps its last `keep_last` images.

    Its django-q2 CRON schedule (`q_schedule`) is written only by the schedule services; the scheduler fires
    `lifecycle.tasks.backup_schedule_fire` with this row's id and the run's intended time."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="backup_schedules")
    instance = models.ForeignKey(ImportedInstance, on_delete=models.CASCADE, related_name="backup_schedules")
    cron = models.CharField(max_length=100, validators=[validate_cron], help_text="Five cron fields, in UTC.")
    keep_last = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1), MaxValueValidator(choices.MAX_KEEP_LAST)],
        help_text="How many of this schedule's images to keep; older ones are deleted with their snapshots.")
    reboot = models.BooleanField(default=False, help_text="Reboot the instance for a consistent image.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    q_schedule = models.OneToOneField("django_q.Schedule", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", editable=False)
    # The latest run that started a backup (or found one running): runs intended before it are not repeated.
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)

    same_environment = ("instance",)
    noun = "schedule"

    class Meta:
        ordering = ["instance_id", "id"]

    def __str__(self):
        return f"backup schedule {self.pk} of {self.instance} ({self.cron})"


class BackupTask(DurableJob, EnvironmentResource):
    """One AMI backup (CreateImage) of one instance, started by a user or by a schedule.

    CreateImage takes no ClientToken, so the job's `client_token` is tagged onto the image and looked up before
    any create: a worker that crashed between CreateImage and saving `image_id` finds the image instead of making
    a second one."""

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="backups")
    instance = models.ForeignKey(ImportedInstance, on_delete=models.PROTECT, related_name="backups")
    schedule = models.ForeignKey(BackupSchedule, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="backups")
    state = models.CharField(max_length=16, choices=BackupState.choices, default=BackupState.QUEUED, db_index=True)
    reboot = models.BooleanField(default=False)

    # Checkpoints: enough to resume after any crash without a second image.
    client_token = models.CharField(max_length=64, unique=True)
    image_name = models.CharField(max_length=128)
    image_id = models.CharField(max_length=32, blank=True)
    image_state = models.CharField(max_length=32, blank=True)
    snapshot_ids = models.JSONField(default=list, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)

    same_environment = ("instance",)
    noun = "backup"

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="backup_history_idx"),
                   models.Index(fields=["schedule", "state"], name="backup_retention_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["instance"], condition=Q(state__in=sorted(choices.LIVE)), name="one_live_backup_per_instance",
                violation_error_code="unique",
                violation_error_message="A backup of this instance is already running."),
        ]

    def __str__(self):
        return f"backup {self.pk} of {self.instance}"
