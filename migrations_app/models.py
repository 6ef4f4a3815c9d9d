"""VM-to-EC2 migration jobs. The row is the truth: state, step, checkpoints, lease and progress all live here,
and django-q2 tasks only carry its id."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.jobs.models import DurableJob
from core.models import Tenant
from core.querysets import Restriction
from core.roles import Action
from environments.models import Environment, KeyPair, Region, SecurityGroup, Subnet, through_environment
from migrations_app.choices import LIVE, LicenseType, MigrationState, OperatingSystem

_in_permitted_environment = through_environment("environment")


def _migration_user_scope(user, action):
    """Users see the migrations of environments they may see; operating one (cancelling it) is for the user who
    started it, while they still hold the general role there. Administrators operate every migration."""
    scope = _in_permitted_environment(user, action)
    if action == Action.OPERATE:
        scope &= Q(created_by=user)
    return scope


class ImportToken(models.Model):
    """One issued connector token, so that it can be used once: `used_at` is set atomically on first use."""

    jti = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    vm_moref = models.CharField(max_length=64)
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class MigrationTask(DurableJob):
    """One VM's migration into one environment: a durable job (core.jobs) of kind "migration"."""

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="migrations")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="migrations")

    # What to migrate and where to.
    vm_moref = models.CharField(max_length=64)
    vm_name = models.CharField(max_length=255)
    operating_system = models.CharField(max_length=32, choices=OperatingSystem.choices)
    instance_type = models.CharField(max_length=32)
    subnet = models.ForeignKey(Subnet, on_delete=models.PROTECT, related_name="+")
    security_group = models.ForeignKey(SecurityGroup, on_delete=models.PROTECT, related_name="+")
    key_pair = models.ForeignKey(KeyPair, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    private_ip = models.GenericIPAddressField(protocol="IPv4", null=True, blank=True)
    power_off_requested = models.BooleanField(default=False)
    # Sent as ImportImage's LicenseType; blank on rows from before the choice (the OS's default then).
    license_type = models.CharField(max_length=8, choices=LicenseType.choices, blank=True)
    boot_mode = models.CharField(max_length=16, blank=True,
                                 help_text="ImportImage's BootMode from the VM's firmware: uefi or legacy-bios.")

    # Where it is.
    state = models.CharField(max_length=16, choices=MigrationState.choices, default=MigrationState.QUEUED,
                             db_index=True)
    cancel_requested = models.BooleanField(default=False)
    results_tagged = models.BooleanField(
        default=False, help_text="The results in AWS carry the portal-result tag: the orphan sweep never removes them, "
                                 "and only then may the history retention delete this row.")

    # Progress.
    bytes_total = models.BigIntegerField(default=0)
    bytes_exported = models.BigIntegerField(default=0)
    bytes_uploaded = models.BigIntegerField(default=0)
    conversion_progress = models.PositiveSmallIntegerField(default=0)

    # The user's signed import token, handed to the connector agent with the job: the agent verifies it with the
    # portal's pinned public key and refuses the job without it, so writing this table cannot start an export.
    import_token = models.TextField(blank=True)

    # Checkpoints: enough to resume after any crash without repeating AWS side effects.
    nfc_lease_moref = models.CharField(max_length=64, blank=True)
    s3_bucket = models.CharField(max_length=63, blank=True)
    disks = models.JSONField(default=list, blank=True, help_text="Per disk: key, size, s3_key, upload_id, parts.")
    import_client_token = models.CharField(max_length=64, default="", blank=True)
    import_task_id = models.CharField(max_length=64, blank=True)
    image_id = models.CharField(max_length=32, blank=True)
    run_client_token = models.CharField(max_length=64, default="", blank=True)
    instance_id = models.CharField(max_length=32, blank=True)

    restriction = Restriction(user_scope=_migration_user_scope, user_actions=frozenset({Action.VIEW, Action.OPERATE}))

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["region", "state", "created_at"], name="migration_admission_idx"),
            models.Index(fields=["tenant", "-created_at"], name="migration_history_idx"),
            # A user's seven-day list: their environments' newest migrations, one page read in index order.
            models.Index(fields=["environment", "-created_at", "-id"], include=["tenant"],
                         name="migration_env_recent_idx"),
        ]
        constraints = [
            # A VM can be exported through one NFC lease at a time, so one live migration per VM.
            models.UniqueConstraint(fields=["tenant", "vm_moref"],
                                    condition=Q(state__in=sorted(LIVE)),
                                    name="one_live_migration_per_vm"),
        ]

    @property
    def progress_percent(self) -> int:
        """One number for lists that show a bar per job (the dashboard): export, upload and conversion weigh a third
        each, as they take comparable time for a typical VM."""
        total = self.bytes_total or 1
        moved = min(self.bytes_exported, total) + min(self.bytes_uploaded, total)
        return min(100, round((moved * 100 / total + self.conversion_progress) / 3))

    def __str__(self):
        return f"migration {self.pk} of {self.vm_name}"
