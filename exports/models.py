"""EC2-to-S3 exports: the tenant's export name and buckets, and export jobs. A job row is the truth: state, step,
checkpoints (intent token, AWS export task id), lease and progress all live here; django-q2 tasks carry its id."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.jobs.models import DurableJob
from core.models import Tenant, TenantOwnedModel
from core.querysets import Restriction
from environments.models import Environment, ImportedInstance, Region
from exports.choices import LIVE, ExportState


def new_intent_token() -> str:
    return uuid.uuid4().hex


class ExportSettings(TenantOwnedModel):
    """The tenant's export name, given once with the administrator's consent to create buckets from it."""

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, related_name="+")
    # Bucket names are global across AWS, so two tenants of one platform can never share a name.
    name = models.CharField(max_length=63, unique=True)
    consented_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    consented_at = models.DateTimeField()

    # Auditors read every resource an administrator reads (README): the name and its buckets hold no secret.
    restriction = Restriction(auditor_can_view=True)

    def __str__(self):
        return self.name


class ExportBucket(TenantOwnedModel):
    """A bucket the portal created (or found already the tenant's) in one region, ready for VM Export."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=63, unique=True)

    restriction = Restriction(auditor_can_view=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "region"], name="one_export_bucket_per_region")]

    def __str__(self):
        return self.name


class ExportTask(DurableJob):
    """One instance's export to S3 as an OVA: a durable job (core.jobs) of kind "export". Administrators
    run exports, auditors read them, users see none."""

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="exports")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="exports")
    # The instance row may go (its history stays): the EC2 id is kept beside it.
    instance = models.ForeignKey(ImportedInstance, null=True, on_delete=models.SET_NULL, related_name="+")
    ec2_instance_id = models.CharField(max_length=19)
    s3_prefix = models.CharField(max_length=200, blank=True)

    # Where it is.
    state = models.CharField(max_length=16, choices=ExportState.choices, default=ExportState.QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    results_tagged = models.BooleanField(
        default=False, help_text="The results in AWS carry the portal-result tag: the orphan sweep never removes them, "
                                 "and only then may the history retention delete this row.")
    progress = models.PositiveSmallIntegerField(default=0)
    aws_state = models.CharField(max_length=32, blank=True)

    # Checkpoints. CreateInstanceExportTask takes no client token: the intent token is saved with the row, before
    # any call, and put on the AWS task, so a worker that died before saving the task id finds it again.
    intent_token = models.CharField(max_length=64, unique=True, default=new_intent_token, editable=False)
    export_task_id = models.CharField(max_length=64, blank=True)
    s3_bucket = models.CharField(max_length=63, blank=True)
    s3_key = models.CharField(max_length=1024, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)

    restriction = Restriction(auditor_can_view=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["region", "state", "created_at"], name="export_admission_idx"),
            models.Index(fields=["tenant", "-created_at"], name="export_history_idx"),
        ]
        constraints = [
            # AWS exports an instance once at a time; the database holds the rule so that concurrent requests
            # cannot both pass a check.
            models.UniqueConstraint(fields=["tenant", "ec2_instance_id"], condition=Q(state__in=sorted(LIVE)),
                                    name="one_live_export_per_instance"),
        ]

    def __str__(self):
        return f"export {self.pk} of {self.ec2_instance_id}"

    @property
    def progress_percent(self) -> int:
        return min(100, self.progress)

    @property
    def s3_location(self) -> str:
        if not self.s3_bucket:
            return ""
        return f"s3://{self.s3_bucket}/{self.s3_key or self.s3_prefix}"
