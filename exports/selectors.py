"""Reads for exports: the seven-day list, and what configuring instance export would create (shown before the
administrator consents)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from adapters.aws import client as aws
from core.roles import Action
from environments.choices import InstanceOrigin
from environments.models import ImportedInstance, Region
from exports.buckets import export_bucket_name, validate_export_name
from exports.models import ExportBucket, ExportSettings, ExportTask

HISTORY_DAYS = 7
CONSENT_TEXT = "I agree that the portal may create these buckets on my behalf"


def export_list(*, fetched_by, since=None):
    """The exports the user may see, newest first; the last seven days unless `since` says otherwise."""
    since = since or timezone.now() - timezone.timedelta(days=HISTORY_DAYS)
    return ExportTask.objects.restrict(fetched_by, Action.VIEW).filter(created_at__gte=since).select_related(
        "environment", "region", "created_by", "instance")


def export_configured(*, fetched_by) -> bool:
    """Whether the user's tenant has given its export name, as the user may administer it."""
    return ExportSettings.objects.restrict(fetched_by, Action.ADMIN).exists()


def exportable_instances(*, fetched_by, environment):
    """The environment's instances the user may export: only those imported through the portal (AWS exports
    nothing else)."""
    return ImportedInstance.objects.restrict(fetched_by, Action.ADMIN).filter(
        environment=environment, origin=InstanceOrigin.IMPORTED).order_by("instance_id")


@dataclass(frozen=True)
class BucketPlan:
    region: str
    bucket: str
    exists: bool
    plan: dict


@dataclass(frozen=True)
class ExportConfiguration:
    """The stored export name (if any), the name being previewed, and per region the bucket and its settings."""

    configured: bool
    name: str | None
    consent_text: str
    buckets: list[BucketPlan] = field(default_factory=list)


def export_configuration(*, tenant, name: str | None = None) -> ExportConfiguration:
    """What configuring instance export with `name` (default: the stored name) creates, bucket by bucket, for every
    region the tenant uses. An illegal name raises ValidationError before anything is shown."""
    stored = ExportSettings.objects.filter(tenant=tenant).values_list("name", flat=True).first()
    name = name or stored
    codes = list(Region.objects.filter(tenant=tenant).order_by("code").values_list("code", flat=True))
    if not name:
        return ExportConfiguration(configured=False, name=None, consent_text=CONSENT_TEXT)
    validate_export_name(name, codes)
    existing = set(ExportBucket.objects.filter(tenant=tenant).values_list("name", flat=True))
    buckets = []
    for code in codes:
        bucket = export_bucket_name(name, code)
        buckets.append(BucketPlan(code, bucket, bucket in existing, aws.export_bucket_plan(bucket, code)))
    return ExportConfiguration(configured=stored is not None, name=name, consent_text=CONSENT_TEXT, buckets=buckets)

