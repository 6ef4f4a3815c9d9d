"""Where migrations stage disks in S3: one bucket per tenant and region, named from the tenant's stored suffix."""

from __future__ import annotations

from django.conf import settings

from environments.models import Region


def staging_bucket_name(tenant, region_code: str) -> str:
    name = f"{settings.MIGRATION_STAGING_BUCKET_PREFIX}-{tenant.slug[:20]}-{region_code}-{tenant.bucket_suffix}"
    return name.lower().replace("_", "-")[:63].strip("-")


def staging_buckets(tenant, region_code: str) -> list[str]:
    """The staging buckets of all the tenant's regions (and `region_code`): what the vmimport role must read."""
    codes = set(Region.objects.filter(tenant=tenant).values_list("code", flat=True)) | {region_code}
    return sorted(staging_bucket_name(tenant, code) for code in codes)
