"""Reads for migrations."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from migrations_app.models import MigrationTask
from migrations_app.staging import staging_buckets
from portal.core.errors import UpstreamError
from portal.core.peers import aws_credentials, vcenter_connection
from portal.core.roles import Action
from portal.integrations.aws import client as aws
from portal.integrations.vsphere import client as vsphere

HISTORY_DAYS = 7


def migration_list(*, fetched_by, since=None):
    """The migrations the user may see, newest first; the last seven days unless `since` says otherwise."""
    since = since or timezone.now() - timezone.timedelta(days=HISTORY_DAYS)
    return MigrationTask.objects.restrict(fetched_by, Action.VIEW).filter(created_at__gte=since).select_related(
        "environment", "region", "created_by", "subnet", "security_group", "key_pair")


@dataclass(frozen=True)
class VmImportRole:
    exists: bool
    trusts_vmie: bool
    has_policy: bool
    trust_policy: dict
    permissions_policy: dict


def vmimport_role_describe(*, tenant, region_code: str, status: aws.RoleStatus | None = None) -> VmImportRole:
    """The vmimport role's state in AWS and the policies Fix Error applies (shown before it is applied)."""
    if status is None:
        try:
            status = aws.vmimport_role_status(aws_credentials(tenant), region_code)
        except aws.AwsError as exc:
            raise UpstreamError(f"AWS refused: {exc.message}", code="aws_error") from exc
    return VmImportRole(status.exists, status.trusts_vmie, status.has_policy, aws.VMIMPORT_TRUST_POLICY,
                        aws.vmimport_role_policy(staging_buckets(tenant, region_code)))


def vcenter_vm_list(*, tenant) -> list[vsphere.VmInfo]:
    """The tenant's vCenter VMs, through the connector's service account."""
    try:
        with vsphere.session(vcenter_connection(tenant)) as vc:
            return vc.list_vms()
    except vsphere.VSphereError as exc:
        raise UpstreamError(exc.message, code=f"vcenter_{exc.code}") from exc
