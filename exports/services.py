"""Writes for exports: configuring instance export (the name and the buckets, with consent), starting, cancelling
and handing out download links. Administrators only; every call is audited, refusals included."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from adapters.aws import client as aws
from core.audit import audit_record
from core.audit_actions import AuditAction
from core.errors import Conflict, Forbidden, Invalid, UpstreamError
from core.jobs.transitions import admit, cancel_asked
from core.models import AuditOutcome, User
from core.peers import aws_credentials
from core.querysets import Need
from core.roles import Action
from core.validation import same_tenant, validated_save
from environments.choices import InstanceOrigin
from environments.models import ImportedInstance, Region
from exports import selectors
from exports.buckets import export_bucket_name, validate_export_name
from exports.choices import LIVE, ExportState
from exports.job import EXPORT
from exports.links import link_seconds
from exports.models import ExportBucket, ExportSettings, ExportTask

NOT_CONFIGURED = ("Configure instance export first: an administrator gives the export name under settings, and the "
                  "portal creates the export buckets.")
CONFIGURE = Need(Action.ADMIN, of=ExportSettings)
# S3's characters safe in a key without encoding; a prefix is the start of a key.
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]*$")


def _deny(actor: User, action: AuditAction, message: str, code: str, **detail) -> Forbidden:
    audit_record(actor=actor, action=action, outcome=AuditOutcome.DENIED, detail={"reason": code, **detail})
    return Forbidden(message, code=code)


#
# Configure instance export
#


def export_configure(*, actor: User, name: str, consent: bool) -> ExportSettings:
    """Set the tenant's export name (once) and create its bucket in every region it uses, each ready for VM
    Export. Asked again with the same name, it repairs the buckets and adds those of new regions.

    The buckets are created before the name is saved; if one cannot be (its name is someone else's), those this
    call created are removed again and nothing is saved."""
    if not CONFIGURE.allows(actor):
        raise _deny(actor, AuditAction.EXPORT_CONFIGURE, "Only administrators configure instance export.", "not_admin")
    if not consent:
        raise Invalid(f"Tick \u201c{selectors.CONSENT_TEXT}\u201d to let the portal create the buckets.",
                      code="consent_required", field="consent")
    tenant = actor.tenant
    regions = list(Region.objects.filter(tenant=tenant).order_by("code"))
    validate_export_name(name, [r.code for r in regions])
    stored = ExportSettings.objects.filter(tenant=tenant).first()
    if stored is not None and stored.name != name:
        raise Conflict(f"The export name is given once; it is {stored.name!r}.", code="export_name_fixed",
                       field="name")
    if stored is None and ExportSettings.objects.filter(name=name).exists():
        raise Conflict(f"The export name {name!r} is used by another organisation; choose another.",
                       code="export_name_taken", field="name")
    credentials = aws_credentials(tenant)
    created: list[tuple[str, str]] = []
    try:
        for region in regions:
            bucket = export_bucket_name(name, region.code)
            if aws.export_bucket_ensure(credentials, region.code, bucket):
                created.append((region.code, bucket))
    except aws.AwsError as exc:
        for code, bucket in created:
            try:
                aws.export_bucket_delete_if_empty(credentials, code, bucket)
            except aws.AwsError:
                pass  # an empty bucket of the tenant's own is left; the next attempt finds it theirs
        audit_record(actor=actor, action=AuditAction.EXPORT_CONFIGURE, outcome=AuditOutcome.FAILED,
                     detail={"name": name, "error": exc.code, "message": exc.message})
        raise _bucket_error(exc, name) from exc
    with transaction.atomic():
        if stored is None:
            stored = ExportSettings(tenant=tenant, name=name, consented_by=actor, consented_at=timezone.now())
            validated_save(stored)
        for region in regions:
            _record_bucket(tenant=tenant, region=region, name=export_bucket_name(name, region.code))
        audit_record(actor=actor, action=AuditAction.EXPORT_CONFIGURE, obj=stored, detail={
            "name": name, "consent": selectors.CONSENT_TEXT,
            "buckets": [export_bucket_name(name, r.code) for r in regions],
            "created": [bucket for _, bucket in created]})
    return stored


def export_bucket_repair(*, task: ExportTask, refusal: aws.AwsError) -> None:
    """AWS refused the export for the bucket's grant (AuthFailure): someone took VM Export's grant off the tenant's
    export bucket since it was configured. The administrator consented to the portal managing that bucket, so the
    set-up is applied again (idempotent) and audited; AwsError when AWS refuses that too."""
    try:
        aws.export_bucket_ensure(aws_credentials(task.tenant), task.region.code, task.s3_bucket)
    except aws.AwsError as exc:
        audit_record(actor=task.created_by, action=AuditAction.EXPORT_BUCKET, outcome=AuditOutcome.FAILED,
                     obj=task.region,
                     detail={"bucket": task.s3_bucket, "repaired": False, "error": exc.code, "message": exc.message})
        raise
    audit_record(actor=task.created_by, action=AuditAction.EXPORT_BUCKET, obj=task.region,
                 detail={"bucket": task.s3_bucket, "repaired": True, "error": refusal.code,
                         "message": refusal.message, "export": task.pk})


def _bucket_error(exc: aws.AwsError, name: str) -> Exception:
    if exc.code == "BucketAlreadyExists":
        return Conflict(f"{exc.message} Choose another export name than {name!r}.", code="bucket_taken",
                        field="name")
    return UpstreamError(f"AWS refused to create the export bucket: {exc.message}", code="aws_error")


def _record_bucket(*, tenant, region: Region, name: str) -> ExportBucket:
    try:
        with transaction.atomic():
            bucket, _ = ExportBucket.objects.get_or_create(tenant=tenant, region=region, defaults={"name": name})
    except IntegrityError:  # a concurrent request recorded it first
        bucket = ExportBucket.objects.get(tenant=tenant, region=region)
    return bucket


def region_bucket(*, actor: User, region: Region) -> str:
    """The export bucket of `region`, created on first use when the region came after the configuration."""
    same_tenant(actor, region)
    recorded = ExportBucket.objects.filter(tenant=region.tenant, region=region).values_list("name", flat=True).first()
    if recorded:
        return recorded
    stored = ExportSettings.objects.filter(tenant=region.tenant).first()
    if stored is None:
        raise Conflict(NOT_CONFIGURED, code="export_not_configured")
    name = export_bucket_name(stored.name, region.code)
    try:
        created = aws.export_bucket_ensure(aws_credentials(region.tenant), region.code, name)
    except aws.AwsError as exc:
        audit_record(actor=actor, action=AuditAction.EXPORT_BUCKET, outcome=AuditOutcome.FAILED, obj=region,
                     detail={"bucket": name, "error": exc.code, "message": exc.message})
        raise _bucket_error(exc, stored.name) from exc
    with transaction.atomic():
        bucket = _record_bucket(tenant=region.tenant, region=region, name=name)
        audit_record(actor=actor, action=AuditAction.EXPORT_BUCKET, obj=region,
                     detail={"bucket": name, "created": created})
    return bucket.name


#
# Start
#


def export_create(*, actor: User, instance: ImportedInstance, s3_prefix: str = "") -> ExportTask:
    """Queue the export of an imported instance to its region's export bucket (started at once when the region
    has a free slot). A second live export of the same instance is refused with 409, by the database when two
    requests race."""
    same_tenant(actor, instance)
    if not ImportedInstance.objects.restrict(actor, Action.ADMIN).filter(pk=instance.pk).exists():
        raise _deny(actor, AuditAction.EXPORT_CREATE, "Only administrators export instances.", "not_admin",
                    instance=instance.instance_id)
    if instance.origin != InstanceOrigin.IMPORTED:
        raise Invalid("Only instances imported through the portal can be exported (an AWS rule).",
                      code="not_exportable", field="instance")
    if len(s3_prefix) > 200 or not _PREFIX.match(s3_prefix) or s3_prefix.startswith("/"):
        raise Invalid("Give an S3 object prefix of at most 200 characters: letters, digits and ! _ . * ' ( ) / -, "
                      "not starting with /.", code="invalid_prefix", field="s3_prefix")
    environment = instance.environment
    if not ExportSettings.objects.filter(tenant=actor.tenant).exists():
        raise Conflict(NOT_CONFIGURED, code="export_not_configured")
    _refuse_if_busy(instance)
    bucket = region_bucket(actor=actor, region=environment.region)
    with transaction.atomic():
        _refuse_if_busy(instance)
        task = ExportTask(tenant=actor.tenant, environment=environment, region=environment.region, instance=instance,
                          ec2_instance_id=instance.instance_id, created_by=actor, s3_prefix=s3_prefix,
                          s3_bucket=bucket, status_message="Queued")
        try:
            with transaction.atomic():
                # The one-live-export rule is the database's to enforce (a concurrent request can pass any check
                # made before the insert), so full_clean() leaves that constraint out and the insert decides.
                validated_save(task, exclude=["ec2_instance_id"])
        except IntegrityError:
            _refuse_if_busy(instance)
            raise
        audit_record(actor=actor, action=AuditAction.EXPORT_CREATE, obj=task, detail={
            "instance": instance.instance_id, "bucket": bucket, "prefix": s3_prefix})
        admit(EXPORT, scope=environment.region_id)
    task.refresh_from_db()
    return task


def _refuse_if_busy(instance: ImportedInstance) -> None:
    running = ExportTask.objects.filter(tenant_id=instance.tenant_id, ec2_instance_id=instance.instance_id,
                                        state__in=LIVE).order_by("created_at").first()
    if running is not None:
        aws_task = f", AWS export task {running.export_task_id}" if running.export_task_id else ""
        raise Conflict(f"{instance.instance_id} is already being exported (export {running.pk}{aws_task}); wait "
                       "for it to finish or cancel it.", code="instance_busy", field="instance")


#
# Cancel
#


def export_cancel(*, actor: User, task: ExportTask, confirm: bool) -> ExportTask:
    """Cancel after confirmation. Idempotent; a finished export is left as it is. A queued one ends at once; a
    running one moves to `cancelling`, and a worker cancels the AWS task, waits until AWS has stopped writing,
    deletes whatever is under its key, then marks it cancelled."""
    same_tenant(actor, task)
    if not ExportTask.objects.restrict(actor, Action.ADMIN).filter(pk=task.pk).exists():
        raise _deny(actor, AuditAction.EXPORT_CANCEL, "Only administrators cancel exports.", "not_admin",
                    export=task.pk)
    if not confirm:
        raise Invalid("Confirm that the export should be cancelled (its partial output is deleted).",
                      code="confirmation_required", field="confirm")
    return cancel_asked(EXPORT, task, actor=actor)


#
# Download
#


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime
    bucket: str
    key: str
    size_bytes: int | None


def export_download_link(*, actor: User, task: ExportTask) -> DownloadLink:
    """A time-limited link to the exported OVA, for administrators; each one handed out is audited."""
    same_tenant(actor, task)
    if not ExportTask.objects.restrict(actor, Action.ADMIN).filter(pk=task.pk).exists():
        raise _deny(actor, AuditAction.EXPORT_DOWNLOAD, "Only administrators download exports.", "not_admin",
                    export=task.pk)
    if task.state != ExportState.COMPLETED or not task.s3_key:
        raise Conflict("The export has not completed; there is nothing to download yet.", code="not_completed")
    seconds = link_seconds()
    try:
        url = aws.presigned_get_url(aws_credentials(task.tenant), task.region.code, task.s3_bucket, task.s3_key,
                                    seconds)
    except aws.AwsError as exc:
        raise UpstreamError(f"AWS refused a download link: {exc.message}", code="aws_error") from exc
    audit_record(actor=actor, action=AuditAction.EXPORT_DOWNLOAD, obj=task, detail={
        "bucket": task.s3_bucket, "key": task.s3_key, "expires_in": seconds})
    return DownloadLink(url, timezone.now() + timezone.timedelta(seconds=seconds), task.s3_bucket, task.s3_key,
                        task.size_bytes)
