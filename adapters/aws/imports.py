"""VM Import: the ImportImage task that turns staged disks into an AMI, followed, cancelled, and found again by
its id or by the job's tag (with the image and snapshots it made)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.aws import session, shapes
from adapters.aws.session import AwsCredentials

__all__ = ["ImportTask", "ImportTaskDetail", "import_image", "import_image_cancel", "import_image_describe",
           "import_image_detail", "import_tasks_by_tag"]


@dataclass(frozen=True)
class ImportTask:
    task_id: str
    status: str  # active | completed | deleting | deleted
    status_message: str
    progress: int
    image_id: str


@dataclass(frozen=True)
class ImportTaskDetail:
    task_id: str
    status: str  # active | completed | deleting | deleted
    image_id: str
    snapshot_ids: tuple[str, ...]
    tags: dict[str, str]


def _import_task(data: dict) -> ImportTask:
    try:
        progress = int(data.get("Progress") or 0)
    except ValueError:
        progress = 0
    return ImportTask(data["ImportTaskId"], data.get("Status", ""), data.get("StatusMessage", ""), progress,
                      data.get("ImageId", ""))


def _import_task_detail(data: dict) -> ImportTaskDetail:
    snapshots = tuple(d["SnapshotId"] for d in data.get("SnapshotDetails", []) if d.get("SnapshotId"))
    return ImportTaskDetail(data["ImportTaskId"], data.get("Status", ""), data.get("ImageId", ""), snapshots,
                            shapes.tag_dict(data.get("Tags")))


def import_image(credentials: AwsCredentials, region: str, *, client_token: str, bucket: str, keys: list[str],
                 platform: str, license_type: str, description: str, tags: dict[str, str],
                 boot_mode: str = "") -> ImportTask:
    """Start (or, with the same ClientToken, find again) the import of the staged disks, boot disk first.

    `license_type` (AWS or BYOL) is always sent: left out, AWS picks by the operating system it detects.
    `boot_mode` ("uefi" or "legacy-bios") is the VM's firmware: left out, AWS guesses it from the disk, and an EFI
    guest registered as legacy BIOS does not boot."""
    extra = {"BootMode": boot_mode} if boot_mode else {}
    with session.calling("ec2", credentials, region) as ec2:
        response = ec2.import_image(
            ClientToken=client_token, Description=description[:255], Platform=platform, LicenseType=license_type,
            DiskContainers=[{"Description": key.rsplit("/", 1)[-1], "Format": "vmdk",
                             "UserBucket": {"S3Bucket": bucket, "S3Key": key}} for key in keys],
            TagSpecifications=shapes.tag_specifications(tags, "import-image-task"), **extra,
        )
    return _import_task(response)


def import_image_describe(credentials: AwsCredentials, region: str, task_id: str) -> ImportTask:
    with session.calling("ec2", credentials, region) as ec2:
        tasks = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"]
    return _import_task(session.first_or_missing(tasks, "InvalidConversionTaskId.NotFound",
                                                 f"Import task {task_id} not found."))


def import_image_cancel(credentials: AwsCredentials, region: str, task_id: str) -> None:
    """Cancel; a task that already finished (or is gone) is not an error here."""
    with session.calling("ec2", credentials, region) as ec2, session.ignoring("InvalidConversionTaskId*", "IncorrectState"):
        ec2.cancel_import_task(ImportTaskId=task_id, CancelReason="Cancelled in the migration portal")


def import_image_detail(credentials: AwsCredentials, region: str, task_id: str) -> ImportTaskDetail | None:
    """One ImportImage task with the image and snapshots it made (a completed task reports them even when the
    caller never saw it complete); None once AWS no longer knows the task."""
    tasks = []
    with session.calling("ec2", credentials, region) as ec2, session.ignoring("InvalidConversionTaskId*"):
        tasks = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"]
    return _import_task_detail(tasks[0]) if tasks else None


def import_tasks_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> list[ImportTaskDetail]:
    """Every ImportImage task carrying tag key=value, with the image and snapshots a completed one made."""
    found: list[ImportTaskDetail] = []
    with session.calling("ec2", credentials, region) as ec2:
        for page in ec2.get_paginator("describe_import_image_tasks").paginate(Filters=[shapes.tag_filter(key, value)]):
            found += [_import_task_detail(t) for t in page.get("ImportImageTasks", [])]
    return found
