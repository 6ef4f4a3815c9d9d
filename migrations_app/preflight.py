"""Checks made before anything is exported, so a migration that cannot succeed is refused with a reason.

`target_problems` answers every problem of one VM and its target at once, each naming the field it concerns, from
the VM's facts and one `aws_view` of the environment (what AWS holds right now, not what the last sync saw). The
single-VM services, the migrate dialog and plan validation read the same answers."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from adapters.aws import client as aws
from adapters.vsphere import client as vsphere
from adapters.vsphere.client import VmInfo
from core.errors import Conflict, UpstreamError
from core.peers import aws_credentials
from environments.models import KeyPair, SecurityGroup, Subnet
from migrations_app.choices import (
    MAX_DISK_STREAM_BYTES,
    MAX_DISKS,
    SUPPORTED_INSTANCE_TYPES,
    OperatingSystem,
    boot_mode_problem,
    instance_type_problem,
    license_type_problem,
    platform_of,
)
from migrations_app.guest_os import readable_guest_os
from migrations_app.requests import MigrationTarget

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


def why_not_migratable(vm: VmInfo) -> str | None:
    """What stops the VM from being migrated whatever is chosen in the dialog, for the VM list (the power state
    left out, since the dialog can power the VM off)."""
    problems = vm_problems(vm)
    return problems[0].message if problems else None


def export_privilege_problem(privileges: set[str], *, principal: str, vm_name: str) -> str | None:
    if vsphere.may_export(privileges):
        return None
    return f"Your vCenter account {principal} does not hold the {vsphere.EXPORT_PRIVILEGE} privilege on {vm_name}."


def check_vmimport_role(status: aws.RoleStatus, *, disk_count: int) -> None:
    if status.exists and status.trusts_vmie and status.has_policy:
        return
    if disk_count > 1:
        raise Conflict(MULTI_DISK_ROLE_MESSAGE, code="vmimport_role_missing")
    raise Conflict("The AWS account has no usable 'vmimport' service role, which VM Import needs. An administrator "
                   "can create it with Fix Error on the setup page.", code="vmimport_role_missing")


#
# All problems at once: the VM's facts, the target's choices and AWS as it is now
#


@dataclass(frozen=True)
class Problem:
    field: str  # operating_system | instance_type | license_type | subnet | security_group | key_pair | private_ip | vm
    message: str
    code: str


@dataclass(frozen=True)
class TargetView:
    """One environment as AWS holds it right now (ids and names), read in one round of describes."""

    subnet_ids: frozenset[str] = frozenset()
    security_group_ids: frozenset[str] = frozenset()
    key_pair_names: frozenset[str] = frozenset()
    offerings: Mapping[str, frozenset[str]] = field(default_factory=dict)  # availability zone -> instance types
    ips_in_use: Mapping[str, frozenset[str]] = field(default_factory=dict)  # subnet id -> private addresses


STALE = "no longer in AWS"


def aws_view(*, tenant, environment) -> TargetView:
    try:
        found = aws.describe_launch_targets(aws_credentials(tenant), environment.region.code, environment.vpc_id)
    except aws.AwsError as exc:
        raise UpstreamError(f"AWS refused the pre-flight check: {exc.message}", code="aws_error") from exc
    resources = found.resources
    return TargetView(
        subnet_ids=frozenset(s.subnet_id for s in resources.subnets),
        security_group_ids=frozenset(g.group_id for g in resources.security_groups),
        key_pair_names=frozenset(k.name for k in resources.key_pairs),
        offerings=found.offerings, ips_in_use=found.ips_in_use)


# ImportImage's BootMode for vSphere's config.firmware.
BOOT_MODES = {"efi": "uefi", "bios": "legacy-bios"}


def boot_mode_of(vm: VmInfo) -> str:
    return BOOT_MODES.get(vm.firmware, "")


_LINUX_GUEST_WORDS = ("linux", "ubuntu", "rhel", "centos", "debian", "sles", "suse", "oracle", "fedora", "rocky",
                      "alma", "coreos", "photon", "mandr", "turbo", "asianux", "opensuse")


def guest_platform(guest_id: str) -> str | None:
    """Windows or Linux as the VM's guest id says, or None when it names neither (otherGuest64, FreeBSD...): then
    the user's choice is not second-guessed."""
    lowered = guest_id.lower()
    if lowered.startswith("win"):
        return "Windows"
    if any(word in lowered for word in _LINUX_GUEST_WORDS):
        return "Linux"
    return None


def _gb(size: int) -> str:
    return f"{size / 10**9:.0f} GB"


def vm_problems(vm: VmInfo) -> list[Problem]:
    """What stops this VM whatever is chosen for it (the power state aside: the portal can power it off)."""
    found = []
    if not vm.disks:
        found.append(Problem("vm", f"{vm.name} has no disks to migrate.", "no_disks"))
    if len(vm.disks) > MAX_DISKS:
        found.append(Problem("vm", f"{vm.name} has {len(vm.disks)} disks; VM Import supports at most {MAX_DISKS} "
                                   "volumes.", "too_many_disks"))
    rdm = [d.label for d in vm.disks if d.is_rdm]
    if rdm:
        found.append(Problem("vm", f"{vm.name} has raw device mapping disks ({', '.join(rdm)}), which VM Import "
                                   "cannot import.", "rdm_disk"))
    if vm.disks and vm.disks[0].capacity_bytes > MAX_BOOT_DISK_BYTES:
        found.append(Problem("vm", f"The boot disk of {vm.name} is larger than 2 TiB, the limit for an imported "
                                   "boot volume.", "disk_too_large"))
    for disk in vm.disks[1:]:
        if disk.capacity_bytes > MAX_DATA_DISK_BYTES:
            found.append(Problem("vm", f"{disk.label} of {vm.name} is larger than 16 TiB.", "disk_too_large"))
    if vm.committed_bytes > MAX_DISK_STREAM_BYTES:
        # The export streams at most what the VM's files hold; the exact limit is enforced again while streaming.
        found.append(Problem("vm", f"{vm.name} has {_gb(vm.committed_bytes)} of storage, more than 215 GB to "
                                   "export; VM Import's limit for a disk image is 215 GB.", "vm_too_large"))
    if vm.firmware not in BOOT_MODES:
        found.append(Problem("vm", f"{vm.name} boots with firmware '{vm.firmware}'; VM Import takes only UEFI or "
                                   "BIOS.", "boot_mode_unsupported"))
    return found


def _operating_system_problems(vm: VmInfo, target: MigrationTarget) -> list[Problem]:
    chosen = target.operating_system
    if chosen not in OperatingSystem.values:
        return [Problem("operating_system", "VM Import/Export does not support this operating system.",
                        "unsupported_os")]
    guest = guest_platform(vm.guest_id)
    if guest is not None and guest != platform_of(chosen):
        readable = readable_guest_os(vm.guest_id, vm.guest_full_name)
        return [Problem("operating_system", f"{OperatingSystem(chosen).label} is a {platform_of(chosen)} system, "
                                            f"but {vm.name}'s guest OS is {readable} ({guest}).",
                        "os_family_mismatch")]
    return []


def _instance_type_problems(vm: VmInfo, target: MigrationTarget, subnet: Subnet | None,
                            view: TargetView) -> list[Problem]:
    kind = target.instance_type
    if kind not in SUPPORTED_INSTANCE_TYPES:
        return [Problem("instance_type", "This instance type is not supported for imported instances.",
                        "unsupported_instance_type")]
    if target.operating_system in OperatingSystem.values:
        ena = instance_type_problem(target.operating_system, kind)
        if ena:
            return [Problem("instance_type", ena, "ena_required")]
    boot = boot_mode_problem(boot_mode_of(vm), kind)
    if boot:
        return [Problem("instance_type", boot, "boot_mode_not_supported")]
    if subnet is not None and subnet.availability_zone in view.offerings \
            and kind not in view.offerings[subnet.availability_zone]:
        return [Problem("instance_type", f"{kind} is not offered in {subnet.availability_zone}, the availability "
                                         f"zone of subnet {subnet.subnet_id}; choose another type or subnet.",
                        "instance_type_not_offered")]
    return []


def _private_ip_problem(private_ip: str, subnet: Subnet, in_use) -> Problem | None:
    try:
        check_private_ip(private_ip, subnet, in_use=set(in_use))
    except ValidationError as exc:
        return Problem("private_ip", exc.message_dict["private_ip"][0], "private_ip_unusable")
    return None


@dataclass(frozen=True)
class EnvironmentRows:
    """The environment's subnets, security groups and key pairs as the last sync stored them, by id: read once
    when many targets are checked (a plan), instead of three queries per VM."""

    subnets: Mapping[int, Subnet]
    security_groups: Mapping[int, SecurityGroup]
    key_pairs: Mapping[int, KeyPair]

    @classmethod
    def of(cls, environment) -> EnvironmentRows:
        return cls({s.pk: s for s in Subnet.objects.filter(environment=environment)},
                   {g.pk: g for g in SecurityGroup.objects.filter(environment=environment)},
                   {k.pk: k for k in KeyPair.objects.filter(environment=environment)})


def target_problems(*, vm: VmInfo, target: MigrationTarget, environment, view: TargetView,
                    rows: EnvironmentRows | None = None) -> list[Problem]:
    """Every reason this VM cannot be migrated to this target, each naming its field; empty when none."""
    rows = rows or EnvironmentRows.of(environment)
    found = vm_problems(vm) + _operating_system_problems(vm, target)
    subnet = rows.subnets.get(target.subnet_id)
    found += _instance_type_problems(vm, target, subnet, view)
    if target.license_type is not None:
        licence = license_type_problem(target.operating_system, target.license_type)
        if licence:
            found.append(Problem("license_type", licence, "license_type_unsupported"))
    if subnet is None:
        found.append(Problem("subnet", "Choose a subnet of the environment.", "unknown_subnet"))
    elif subnet.subnet_id not in view.subnet_ids:
        found.append(Problem("subnet", f"Subnet {subnet.subnet_id} is {STALE}; sync the environment and choose "
                                       "another.", "stale_subnet"))
    group = rows.security_groups.get(target.security_group_id)
    if group is None:
        found.append(Problem("security_group", "Choose a security group of the environment's VPC.",
                             "unknown_security_group"))
    elif group.group_id not in view.security_group_ids:
        found.append(Problem("security_group", f"Security group {group} is {STALE}; sync the environment and "
                                               "choose another.", "stale_security_group"))
    if target.key_pair_id is not None:
        key = rows.key_pairs.get(target.key_pair_id)
        if key is None:
            found.append(Problem("key_pair", "Choose a key pair of the environment.", "unknown_key_pair"))
        elif key.name not in view.key_pair_names:
            found.append(Problem("key_pair", f"Key pair {key.name} is {STALE}; sync the environment and choose "
                                             "another.", "stale_key_pair"))
    if target.private_ip and subnet is not None:
        problem = _private_ip_problem(target.private_ip, subnet, view.ips_in_use.get(subnet.subnet_id, ()))
        if problem:
            found.append(problem)
    return found


def as_validation_error(problems: list[Problem]) -> ValidationError:
    """The problems as one ValidationError keyed by field: the API answers 400 with an `attr` per problem, pages show
    each beside its field."""
    by_field: dict[str, list[ValidationError]] = {}
    for problem in problems:
        by_field.setdefault(problem.field, []).append(ValidationError(problem.message, code=problem.code))
    return ValidationError(by_field)
