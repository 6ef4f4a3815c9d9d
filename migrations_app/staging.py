"""Where migrations stage disks in S3: one bucket per tenant and region, named from the tenant's stored suffix."""

from __future__ import annotations

from django.conf import settings

from adapters.aws import client as aws
from connector import datapath
from environments.models import Region
from migrations_app.choices import MAX_DISK_STREAM_BYTES

# How many times S3 may lose one disk's upload (NoSuchUpload) before the job fails: once is a lifecycle rule or a
# stray abort and the disk starts again in a new upload; every time means something aborts every upload, and
# starting again would only send the disk again and again.
MAX_UPLOADS_LOST = 3


def staging_bucket_name(tenant, region_code: str) -> str:
    name = f"{settings.MIGRATION_STAGING_BUCKET_PREFIX}-{tenant.slug[:20]}-{region_code}-{tenant.bucket_suffix}"
    return name.lower().replace("_", "-")[:63].strip("-")


def staging_buckets(tenant, region_code: str) -> list[str]:
    """The staging buckets of all the tenant's regions (and `region_code`): what the vmimport role must read."""
    codes = set(Region.objects.filter(tenant=tenant).values_list("code", flat=True)) | {region_code}
    return sorted(staging_bucket_name(tenant, code) for code in codes)


def disk_upload_start(s3, task, disk: dict, index: int) -> None:
    """Give the disk its key, part plan and a new multipart upload (in `disk`; the caller saves it before any part
    is sent), whoever sends the parts: the platform's worker or the tenant's agent."""
    disk["s3_key"] = f"{task.tenant.slug}/migration-{task.pk}/disk-{index + 1}.vmdk"
    disk["part_plan"] = datapath.plan_parts(disk["size"], minimum=settings.MIGRATION_PART_SIZE,
                                            limit=MAX_DISK_STREAM_BYTES,
                                            floor=settings.MIGRATION_S3_MIN_PART_SIZE).as_dict()
    disk["part_size"] = disk["part_plan"]["base"]
    disk["upload_id"] = aws.multipart_start(s3, task.s3_bucket, disk["s3_key"], {
        "portal-migration": str(task.pk), "portal-tenant": task.tenant.slug})
