"""Migration states and the only transitions between them; the supported operating systems and instance types."""

from django.db import models


class MigrationState(models.TextChoices):
    QUEUED = "queued", "Queued"
    EXPORTING = "exporting", "Exporting"
    UPLOADING = "uploading", "Uploading"
    CONVERTING = "converting", "Converting"
    LAUNCHING = "launching", "Launching"
    COMPLETED = "completed", "Completed"
    FAILING = "failing", "Failing"
    FAILED = "failed", "Failed"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"


S = MigrationState
TERMINAL = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED})
# States that hold one of the region's connector slots.
ACTIVE = frozenset({S.EXPORTING, S.UPLOADING, S.CONVERTING, S.LAUNCHING})
# States a worker drives (a lease is taken to work on them). `failing` and `cancelling` free the slot at once but
# stay workable until AWS and vCenter confirm that everything the job held is released.
WORKABLE = ACTIVE | {S.CANCELLING, S.FAILING}
# States in which the migration may still touch its VM (one such migration per VM).
LIVE = WORKABLE | {S.QUEUED}

ALLOWED_TRANSITIONS: dict[str, frozenset] = {
    S.QUEUED: frozenset({S.EXPORTING, S.CANCELLED, S.FAILED}),
    S.EXPORTING: frozenset({S.UPLOADING, S.FAILING, S.CANCELLING}),
    S.UPLOADING: frozenset({S.CONVERTING, S.FAILING, S.CANCELLING}),
    S.CONVERTING: frozenset({S.LAUNCHING, S.FAILING, S.CANCELLING}),
    S.LAUNCHING: frozenset({S.COMPLETED, S.FAILING, S.CANCELLING}),
    S.FAILING: frozenset({S.FAILED}),
    S.CANCELLING: frozenset({S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


class OperatingSystem(models.TextChoices):
    """Guest operating systems VM Import/Export supports (a representative list; kept as data, not code)."""

    WINDOWS_SERVER_2016 = "windows-server-2016", "Windows Server 2016"
    WINDOWS_SERVER_2019 = "windows-server-2019", "Windows Server 2019"
    WINDOWS_SERVER_2022 = "windows-server-2022", "Windows Server 2022"
    AMAZON_LINUX_2 = "amazon-linux-2", "Amazon Linux 2"
    RHEL_8 = "rhel-8", "Red Hat Enterprise Linux 8"
    RHEL_9 = "rhel-9", "Red Hat Enterprise Linux 9"
    CENTOS_7 = "centos-7", "CentOS 7"
    UBUNTU_20_04 = "ubuntu-20.04", "Ubuntu 20.04"
    UBUNTU_22_04 = "ubuntu-22.04", "Ubuntu 22.04"
    DEBIAN_11 = "debian-11", "Debian 11"
    DEBIAN_12 = "debian-12", "Debian 12"
    SLES_15 = "sles-15", "SUSE Linux Enterprise Server 15"


def platform_of(operating_system: str) -> str:
    return "Windows" if operating_system.startswith("windows") else "Linux"


class LicenseType(models.TextChoices):
    """ImportImage's LicenseType. AWS's default when none is sent is AWS for Windows Server and BYOL for Linux
    (EC2 API Reference, ImportImage); the portal always sends one, as VM Import/Export recommends."""

    AWS = "AWS", "AWS license included"
    BYOL = "BYOL", "Bring your own license (BYOL)"


def default_license_type(operating_system: str) -> str:
    return LicenseType.AWS if platform_of(operating_system) == "Windows" else LicenseType.BYOL


def license_type_problem(operating_system: str, license_type: str) -> str | None:
    """Why this licence cannot be asked for this operating system, or None. Linux imports are BYOL only (VM
    Import/Export User Guide, "Licensing options"): an AWS licence would fail the import task."""
    if license_type not in LicenseType.values:
        return "Choose AWS (license included) or BYOL."
    if license_type == LicenseType.AWS and platform_of(operating_system) != "Windows":
        return "Linux operating systems can only be imported with their own licence (BYOL)."
    return None


SUPPORTED_INSTANCE_TYPES = (
    "t2.micro", "t2.small", "t2.medium", "t2.large", "t3.micro", "t3.small", "t3.medium", "t3.large", "t3.xlarge",
    "m5.large", "m5.xlarge", "m5.2xlarge", "m5.4xlarge", "m6i.large", "m6i.xlarge", "m6i.2xlarge",
    "c5.large", "c5.xlarge", "c5.2xlarge", "c6i.large", "c6i.xlarge", "r5.large", "r5.xlarge", "r6i.large",
)

# Nitro instance types require ENA of the image (DescribeInstanceTypes: NetworkInfo.EnaSupport "required"); RunInstances
# refuses them an image without EnaSupport (InvalidParameterCombination). The t2 types (Xen) do not.
ENA_REQUIRED_FAMILIES = frozenset({"t3", "m5", "m6i", "c5", "c6i", "r5", "r6i"})


def ena_required(instance_type: str) -> bool:
    return instance_type.split(".", 1)[0] in ENA_REQUIRED_FAMILIES


def import_enables_ena(operating_system: str) -> bool:
    """VM Import/Export installs the ENA driver into Windows Server and registers the image with EnaSupport; a Linux
    import is registered without it, so an instance of a Linux import cannot be a Nitro type."""
    return platform_of(operating_system) == "Windows"


def instance_type_problem(operating_system: str, instance_type: str) -> str | None:
    if ena_required(instance_type) and not import_enables_ena(operating_system):
        xen = ", ".join(t for t in SUPPORTED_INSTANCE_TYPES if not ena_required(t))
        return (f"{instance_type} requires enhanced networking (ENA), which EC2 does not enable on an imported Linux "
                f"image; choose one of {xen}.")
    return None


def boot_mode_problem(boot_mode: str, instance_type: str) -> str | None:
    """Why an image of this boot mode cannot run on this type, or None. UEFI boots only on Nitro types; Xen types
    (t2) boot legacy BIOS only (DescribeInstanceTypes: SupportedBootModes), so RunInstances would refuse them an
    image imported with BootMode uefi."""
    if boot_mode == "uefi" and not ena_required(instance_type):
        return (f"{instance_type} boots only with legacy BIOS, and the VM boots with UEFI; choose a Nitro type "
                "(t3, m5, m6i, c5, c6i, r5, r6i).")
    return None


# VM Import/Export limits (AWS documentation; the 215 GB compressed-disk cap is the original portal's).
MAX_DISKS = 22
MAX_DISK_STREAM_BYTES = 215 * 10**9
