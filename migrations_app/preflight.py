"""Checks made before anything is exported, so a migration that cannot succeed is refused with a reason."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError

from adapters.aws import client as aws
from adapters.vsphere.client import VmInfo
from core.errors import Conflict
from environments.models import Subnet
from migrations_app.choices import MAX_DISKS

MULTI_DISK_ROLE_MESSAGE = (
    "To migrate a virtual machine with more than one disk, log into the management portal setup page and grant "
    "the additional permissions required by the VM Import/Export service."
)
# A disk larger than this cannot be an MBR boot volume, and no EBS volume is larger than 16 TiB.
MAX_BOOT_DISK_BYTES = 2 * 1024**4
MAX_DATA_DISK_BYTES = 16 * 1024**4


def check_private_ip(private_ip: str, subnet: Subnet, in_use: set[str]) -> None:
    network = ipaddress.ip_network(subnet.cidr_block, strict=False)
    address = ipaddress.ip_address(private_ip)
    if address not in network:
        raise ValidationError({"private_ip": f"{private_ip} is not inside subnet {subnet.subnet_id} "
                                             f"({subnet.cidr_block})."})
    # AWS reserves the network address, the next three, and the broadcast address of every subnet.
    reserved = {network.network_address + i for i in range(4)} | {network.broadcast_address}
    if address in reserved:
        raise ValidationError({"private_ip": f"{private_ip} is reserved by AWS in {subnet.cidr_block} (the first "
                                             "four addresses and the last one are)."})
    if private_ip in in_use:
        raise ValidationError({"private_ip": f"{private_ip} is already in use in {subnet.subnet_id}."})


def check_vm(vm: VmInfo, *, power_off_requested: bool) -> None:
    if vm.power_state != "poweredOff" and not power_off_requested:
        raise Conflict(f"{vm.name} is powered on. Power it off, or ask the portal to power it off before the "
                       "export.", code="vm_powered_on")
    if not vm.disks:
        raise Conflict(f"{vm.name} has no disks to migrate.", code="no_disks")
    if len(vm.disks) > MAX_DISKS:
        raise Conflict(f"{vm.name} has {len(vm.disks)} disks; VM Import supports at most {MAX_DISKS}.",
                       code="too_many_disks")
    rdm = [d.label for d in vm.disks if d.is_rdm]
    if rdm:
        raise Conflict(f"{vm.name} has raw device mapping disks ({', '.join(rdm)}), which VM Import cannot "
                       "import.", code="rdm_disk")
    if vm.disks[0].capacity_bytes > MAX_BOOT_DISK_BYTES:
        raise Conflict(f"The boot disk of {vm.name} is larger than 2 TiB, the limit for an imported boot "
                       "volume.", code="disk_too_large")
    for disk in vm.disks[1:]:
        if disk.capacity_bytes > MAX_DATA_DISK_BYTES:
            raise Conflict(f"{disk.label} of {vm.name} is larger than 16 TiB.", code="disk_too_large")


def why_not_migratable(vm: VmInfo) -> str | None:
    """What stops the VM from being migrated whatever is chosen in the dialog, for the VM list: check_vm's
    refusal, with the power state left out since the dialog can power the VM off."""
    try:
        check_vm(vm, power_off_requested=True)
    except Conflict as exc:
        return exc.message
    return None


EXPORT_PRIVILEGE = "VApp.Export"


def export_privilege_problem(privileges: set[str], *, principal: str, vm_name: str) -> str | None:
    if EXPORT_PRIVILEGE in privileges or "*" in privileges:
        return None
    return f"Your vCenter account {principal} does not hold the {EXPORT_PRIVILEGE} privilege on {vm_name}."


def check_vmimport_role(status: aws.RoleStatus, *, disk_count: int) -> None:
    if status.exists and status.trusts_vmie and status.has_policy:
        return
    if disk_count > 1:
        raise Conflict(MULTI_DISK_ROLE_MESSAGE, code="vmimport_role_missing")
    raise Conflict("The AWS account has no usable 'vmimport' service role, which VM Import needs. An administrator "
                   "can create it with Fix Error on the setup page.", code="vmimport_role_missing")
