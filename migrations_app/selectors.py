"""Reads for migrations."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import timezone
from django.utils.timesince import timesince

from adapters.aws import client as aws
from adapters.vsphere import client as vsphere
from core.connectors.selectors import Inventory, agents_serve, inventory_of
from core.errors import Conflict, UpstreamError
from core.peers import aws_credentials, vcenter_connection
from core.roles import Action
from migrations_app import guest_os, preflight
from migrations_app.models import MigrationTask
from migrations_app.staging import staging_buckets

HISTORY_DAYS = 7
UNEXPECTED_VCENTER_ANSWER = "vCenter gave an unexpected answer."

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class VmListing:
    """The tenant's vCenter VMs and where they come from: the inventory its connector agents reported (`inventory`,
    with its age), or, for a tenant without agents, vCenter itself read just now (`inventory` None)."""

    vms: list[vsphere.VmInfo]
    inventory: Inventory | None = None


def inventory_status(*, tenant) -> Inventory | None:
    """The inventory's age and state without its VMs; None for a tenant without agents (read live)."""
    return inventory_of(tenant.pk, with_vms=False) if agents_serve(tenant.pk) else None


def vm_listing(*, tenant) -> VmListing:
    """The tenant's VMs. A tenant served by connector agents gets what they last reported and vCenter is never
    asked (nothing reported yet is a Conflict saying so); any other tenant's vCenter is read through its service
    account."""
    if agents_serve(tenant.pk):
        inventory = inventory_of(tenant.pk)
        if not inventory.reported:
            raise Conflict(inventory.missing_message, code="inventory_missing")
        return VmListing(list(inventory.vms), inventory)
    return VmListing(_vms_from_vcenter(tenant))


def vcenter_vm_list(*, tenant) -> list[vsphere.VmInfo]:
    """The tenant's vCenter VMs (see vm_listing)."""
    return vm_listing(tenant=tenant).vms


def _vms_from_vcenter(tenant) -> list[vsphere.VmInfo]:
    connection = vcenter_connection(tenant)  # not configured is the tenant's to fix (409), not a peer failure
    try:
        with vsphere.session(connection) as vc:
            vms = vc.list_vms()
    except vsphere.VSphereError as exc:
        raise UpstreamError(exc.message, code=f"vcenter_{exc.code}") from exc
    except Exception as exc:
        # The adapter promises VSphereError only, but the connection settings are the tenant's free text: whatever
        # else a setting or a peer provokes still is the peer's failure to the user (502), and a bug in the log.
        logger.exception("vSphere adapter raised %s listing the VMs of tenant %s", type(exc).__name__, tenant.pk)
        raise UpstreamError(UNEXPECTED_VCENTER_ANSWER, code="vcenter_unexpected_answer") from exc
    if not isinstance(vms, list) or not all(isinstance(vm, vsphere.VmInfo) for vm in vms):
        logger.error("vSphere adapter listed the VMs of tenant %s as %s", tenant.pk, type(vms).__name__)
        raise UpstreamError(UNEXPECTED_VCENTER_ANSWER, code="vcenter_unexpected_answer")
    return vms


@dataclass(frozen=True)
class VmRow:
    vm: vsphere.VmInfo
    guest_os: str
    problem: str | None  # why it cannot be migrated, before anyone tries


def vcenter_vm_rows(*, user, vms: list[vsphere.VmInfo], inventory: Inventory | None = None) -> list[VmRow]:
    """The VM list's rows: each VM with its readable guest OS and what would refuse its migration, from the same
    pre-flight checks the migration makes. The user's export privilege comes from the connector's inventory for a
    tenant its agents serve, else it is asked of vCenter in one call; when it cannot be told (no vCenter identity,
    vCenter refusing, a principal mapped since the inventory was taken), the migration itself still checks it."""
    if inventory is None and agents_serve(user.tenant_id):
        inventory = inventory_of(user.tenant_id)
    privileges = _export_privileges(user, vms, inventory)
    rows = []
    for vm in vms:
        problem = preflight.why_not_migratable(vm)
        if problem is None and privileges is not None:
            problem = preflight.export_privilege_problem(privileges.get(vm.moref, set()),
                                                         principal=user.vcenter_principal, vm_name=vm.name)
        rows.append(VmRow(vm, guest_os.readable_guest_os(vm.guest_id, vm.guest_full_name), problem))
    return rows


def _export_privileges(user, vms, inventory: Inventory | None) -> dict[str, set[str]] | None:
    if not vms or not user.vcenter_principal:
        return None
    if inventory is not None:
        return inventory.privileges_of(user.vcenter_principal)
    try:
        with vsphere.session(vcenter_connection(user.tenant)) as vc:
            return vc.privileges_on_vms([vm.moref for vm in vms], user.vcenter_principal)
    except vsphere.VSphereError as exc:
        logger.warning("vCenter did not tell the export privileges of tenant %s's user %s: %s", user.tenant_id,
                       user.pk, exc.message)
        return None


@dataclass(frozen=True)
class PeerCheck:
    peer: str
    ok: bool
    detail: str


def connection_checks(*, tenant, region_codes) -> list[PeerCheck]:
    """What works of the tenant's peers, for the settings page's test button: vCenter through the service
    account (for a tenant its connector agents serve: what they last reported, vCenter is not asked), then AWS
    (the tenant's own access and the vmimport role) in each region. Never raises for a peer."""
    checks = [_vcenter_check(tenant)]
    for code in region_codes or ["us-east-1"]:
        try:
            role = vmimport_role_describe(tenant=tenant, region_code=code)
        except (UpstreamError, Conflict) as exc:
            checks.append(PeerCheck(f"AWS {code}", False, exc.message))
            continue
        ready = role.exists and role.trusts_vmie and role.has_policy
        checks.append(PeerCheck(f"AWS {code}", ready, "Access works; the vmimport role is ready." if ready else
                                "Access works, but the vmimport role needs Fix Error."))
    return checks


def _vcenter_check(tenant) -> PeerCheck:
    inventory = inventory_status(tenant=tenant)
    if inventory is not None:
        if not inventory.reported:
            return PeerCheck("vCenter", False, inventory.missing_message)
        seen = (f"The connector {inventory.agent} reported {inventory.vm_count} VM(s) "
                f"{timesince(inventory.taken_at)} ago.")
        if inventory.error:
            return PeerCheck("vCenter", False, f"{seen} Since then: {inventory.error_text}.")
        if inventory.stale:
            return PeerCheck("vCenter", False, f"{seen} That is stale: it has not reported since.")
        return PeerCheck("vCenter", True, seen)
    try:
        vms = vcenter_vm_list(tenant=tenant)
    except (UpstreamError, Conflict) as exc:
        return PeerCheck("vCenter", False, exc.message)
    return PeerCheck("vCenter", True, f"Connected; the service account sees {len(vms)} VM(s).")
