"""Reads for migrations."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from django.utils.timesince import timesince

from adapters.aws import client as aws
from adapters.vsphere import client as vsphere
from core.connectors.selectors import Inventory, inventory_of
from core.errors import Conflict, UpstreamError
from core.peers import aws_credentials
from core.roles import Action
from migrations_app import guest_os, preflight
from migrations_app.models import MigrationTask
from migrations_app.staging import staging_buckets

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


@dataclass(frozen=True)
class VmListing:
    """The tenant's vCenter VMs and the inventory its connector agents reported them in (with its age)."""

    vms: list[vsphere.VmInfo]
    inventory: Inventory


def inventory_status(*, tenant) -> Inventory:
    """The inventory's age and state without its VMs."""
    return inventory_of(tenant.pk, with_vms=False)


def vm_listing(*, tenant) -> VmListing:
    """The tenant's VMs as its connector agents last reported them: vCenter is only ever read by them. No
    connector, or nothing reported yet, is a Conflict saying so."""
    inventory = inventory_of(tenant.pk)
    if not inventory.reported:
        raise Conflict(inventory.missing_message, code=inventory.missing_code)
    return VmListing(list(inventory.vms), inventory)


def vcenter_vm_list(*, tenant) -> list[vsphere.VmInfo]:
    """The tenant's vCenter VMs (see vm_listing)."""
    return vm_listing(tenant=tenant).vms


@dataclass(frozen=True)
class VmRow:
    vm: vsphere.VmInfo
    guest_os: str
    problem: str | None  # why it cannot be migrated, before anyone tries


def vcenter_vm_rows(*, user, vms: list[vsphere.VmInfo], inventory: Inventory | None = None) -> list[VmRow]:
    """The VM list's rows: each VM with its readable guest OS and what would refuse its migration, from the same
    pre-flight checks the migration makes. The user's export privilege comes from the connector's inventory; when
    it cannot tell (no vCenter identity, a principal mapped since the inventory was taken), the migration itself
    still checks it."""
    if inventory is None:
        inventory = inventory_of(user.tenant_id)
    privileges = inventory.privileges_of(user.vcenter_principal) if vms and user.vcenter_principal else None
    rows = []
    for vm in vms:
        problem = preflight.why_not_migratable(vm)
        if problem is None and privileges is not None:
            problem = preflight.export_privilege_problem(privileges.get(vm.moref, set()),
                                                         principal=user.vcenter_principal, vm_name=vm.name)
        rows.append(VmRow(vm, guest_os.readable_guest_os(vm.guest_id, vm.guest_full_name), problem))
    return rows


@dataclass(frozen=True)
class PeerCheck:
    peer: str
    ok: bool
    detail: str


def connection_checks(*, tenant, region_codes) -> list[PeerCheck]:
    """What works of the tenant's peers, for the settings page's test button: vCenter as the connector agents last
    reported it (the portal never asks it), then AWS (the tenant's own access and the vmimport role) in each
    region. Never raises for a peer."""
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
    if not inventory.reported:
        return PeerCheck("vCenter", False, inventory.missing_message)
    seen = f"The connector {inventory.agent} reported {inventory.vm_count} VM(s) {timesince(inventory.taken_at)} ago."
    if inventory.error:
        return PeerCheck("vCenter", False, f"{seen} Since then: {inventory.error_text}.")
    if inventory.stale:
        return PeerCheck("vCenter", False, f"{seen} That is stale: it has not reported since.")
    return PeerCheck("vCenter", True, seen)
