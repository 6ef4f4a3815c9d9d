"""What the portal can tell from a vCenter VM before the user answers anything: its guest OS as people read it, the
operating system to pre-fill, and an instance type to suggest. Pure functions of the VM's facts (no ORM, no I/O),
so the VM list, the migrate dialog and their tests read the same answers."""

from __future__ import annotations

from dataclasses import dataclass

from migrations_app.choices import SUPPORTED_INSTANCE_TYPES, OperatingSystem, boot_mode_problem, instance_type_problem

OS = OperatingSystem

# vSphere's guestFullName of the guest ids a tenant is likely to hold (VirtualMachineGuestOsIdentifier). vCenter
# usually sends the full name too, but not every version or simulator does, and the id means nothing to most users.
READABLE_GUEST_OS = {
    "windows7Server64Guest": "Microsoft Windows Server 2008 R2 (64-bit)",
    "windows8Server64Guest": "Microsoft Windows Server 2012 (64-bit)",
    "windows9Server64Guest": "Microsoft Windows Server 2016 or later (64-bit)",
    "windows2019srv_64Guest": "Microsoft Windows Server 2019 (64-bit)",
    "windows2019srvNext_64Guest": "Microsoft Windows Server 2022 (64-bit)",
    "windows2022srvNext_64Guest": "Microsoft Windows Server 2025 (64-bit)",
    "amazonlinux2_64Guest": "Amazon Linux 2 (64-bit)",
    "amazonlinux3_64Guest": "Amazon Linux 2023 (64-bit)",
    "rhel6_64Guest": "Red Hat Enterprise Linux 6 (64-bit)",
    "rhel7_64Guest": "Red Hat Enterprise Linux 7 (64-bit)",
    "rhel8_64Guest": "Red Hat Enterprise Linux 8 (64-bit)",
    "rhel9_64Guest": "Red Hat Enterprise Linux 9 (64-bit)",
    "centos7_64Guest": "CentOS 7 (64-bit)",
    "centos8_64Guest": "CentOS 8 (64-bit)",
    "centos64Guest": "CentOS 4/5 or later (64-bit)",
    "ubuntuGuest": "Ubuntu Linux (32-bit)",
    "ubuntu64Guest": "Ubuntu Linux (64-bit)",
    "debian10_64Guest": "Debian GNU/Linux 10 (64-bit)",
    "debian11_64Guest": "Debian GNU/Linux 11 (64-bit)",
    "debian12_64Guest": "Debian GNU/Linux 12 (64-bit)",
    "sles12_64Guest": "SUSE Linux Enterprise 12 (64-bit)",
    "sles15_64Guest": "SUSE Linux Enterprise 15 (64-bit)",
    "oracleLinux7_64Guest": "Oracle Linux 7 (64-bit)",
    "oracleLinux8_64Guest": "Oracle Linux 8 (64-bit)",
    "otherLinux64Guest": "Other Linux (64-bit)",
    "other3xLinux64Guest": "Other 3.x Linux (64-bit)",
    "other4xLinux64Guest": "Other 4.x Linux (64-bit)",
    "other5xLinux64Guest": "Other 5.x or later Linux (64-bit)",
    "otherGuest": "Other (32-bit)",
    "otherGuest64": "Other (64-bit)",
}

# Only guest ids that name one supported system. An id naming a version VM Import does not take here (RHEL 7) or
# no system at all (otherGuest64) pre-fills nothing: a wrong guess is worse than asking. ubuntu64Guest names no
# release; the newest supported one is the likelier, and the dialog says the choice is a guess to check.
OPERATING_SYSTEM_OF_GUEST = {
    "windows9Server64Guest": OS.WINDOWS_SERVER_2016,
    "windows2019srv_64Guest": OS.WINDOWS_SERVER_2019,
    "windows2019srvNext_64Guest": OS.WINDOWS_SERVER_2022,
    "amazonlinux2_64Guest": OS.AMAZON_LINUX_2,
    "rhel8_64Guest": OS.RHEL_8,
    "rhel9_64Guest": OS.RHEL_9,
    "centos7_64Guest": OS.CENTOS_7,
    "ubuntu64Guest": OS.UBUNTU_22_04,
    "debian11_64Guest": OS.DEBIAN_11,
    "debian12_64Guest": OS.DEBIAN_12,
    "sles15_64Guest": OS.SLES_15,
}

# (vCPUs, memory in MiB) of the supported instance types (EC2 DescribeInstanceTypes).
INSTANCE_SIZES = {
    "t2.micro": (1, 1024), "t2.small": (1, 2048), "t2.medium": (2, 4096), "t2.large": (2, 8192),
    "t3.micro": (2, 1024), "t3.small": (2, 2048), "t3.medium": (2, 4096), "t3.large": (2, 8192),
    "t3.xlarge": (4, 16384),
    "m5.large": (2, 8192), "m5.xlarge": (4, 16384), "m5.2xlarge": (8, 32768), "m5.4xlarge": (16, 65536),
    "m6i.large": (2, 8192), "m6i.xlarge": (4, 16384), "m6i.2xlarge": (8, 32768),
    "c5.large": (2, 4096), "c5.xlarge": (4, 8192), "c5.2xlarge": (8, 16384),
    "c6i.large": (2, 4096), "c6i.xlarge": (4, 8192),
    "r5.large": (2, 16384), "r5.xlarge": (4, 32768), "r6i.large": (2, 16384),
}


def readable_guest_os(guest_id: str, guest_full_name: str = "") -> str:
    if guest_id in READABLE_GUEST_OS:
        return READABLE_GUEST_OS[guest_id]
    if guest_full_name and guest_full_name != guest_id:
        return guest_full_name
    return guest_id or "Unknown"


def operating_system_for(guest_id: str) -> str | None:
    found = OPERATING_SYSTEM_OF_GUEST.get(guest_id)
    return str(found) if found is not None else None


@dataclass(frozen=True)
class Suggestion:
    instance_type: str
    text: str


def suggest_instance_type(*, num_cpu: int, memory_mb: int, operating_system: str | None,
                          boot_mode: str = "") -> Suggestion | None:
    """The smallest supported type with at least the VM's vCPUs and memory that the operating system can run on
    (an imported Linux image cannot run on a type that requires ENA). When none is that large, the largest such
    type, saying it is smaller than the VM. None when the VM's size is unknown."""
    if num_cpu <= 0 or memory_mb <= 0:
        return None
    usable = [t for t in SUPPORTED_INSTANCE_TYPES
              if (operating_system is None or instance_type_problem(operating_system, t) is None)
              and boot_mode_problem(boot_mode, t) is None]
    if operating_system is None:
        # Without the OS the suggestion must hold for Linux too, so it keeps to the types every import can run.
        usable = [t for t in usable if instance_type_problem(OS.UBUNTU_22_04, t) is None]
    if not usable:
        return None  # no type runs this system with this firmware: the checks say why
    order = sorted(usable, key=lambda t: (INSTANCE_SIZES[t][1], INSTANCE_SIZES[t][0], usable.index(t)))
    fitting = [t for t in order if INSTANCE_SIZES[t][0] >= num_cpu and INSTANCE_SIZES[t][1] >= memory_mb]
    vm = f"{num_cpu} vCPU and {_memory(memory_mb)}"
    if fitting:
        chosen = fitting[0]
        cpu, memory = INSTANCE_SIZES[chosen]
        return Suggestion(chosen, f"Suggested for the VM's {vm}: {chosen} ({cpu} vCPU, {_memory(memory)}). "
                                  "It is only a suggestion; choose what the workload needs.")
    chosen = max(order, key=lambda t: INSTANCE_SIZES[t])
    cpu, memory = INSTANCE_SIZES[chosen]
    return Suggestion(chosen, f"Suggested for the VM's {vm}: {chosen} ({cpu} vCPU, {_memory(memory)}), the largest "
                              "type this operating system can run after import, smaller than the VM. It is only a "
                              "suggestion; choose what the workload needs.")


def _memory(mb: int) -> str:
    return f"{mb // 1024} GiB" if mb % 1024 == 0 else f"{mb} MB"
