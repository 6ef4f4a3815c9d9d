"""Small helpers for tests and scripts that drive the AWS sandbox (all over HTTP with boto3).

Works with :class:`~sandbox.aws.server.AWSSandbox` and :class:`~sandbox.aws.server.RemoteAWSSandbox`.
No moto import.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from . import diskfmt

DEFAULT_BUCKET = "vmimport-disks"


def make_vmdk(capacity: int = 64 * 1024 * 1024, label: str = "vmigrate test disk", size: int = 256 * 1024) -> bytes:
    """A small valid streamOptimized VMDK with recognisable content."""
    return diskfmt.make_stream_optimized_vmdk(capacity, diskfmt.sample_disk_data(label, size))


def ensure_bucket(sandbox: Any, bucket: str) -> None:
    s3 = sandbox.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)


def ensure_export_bucket(sandbox: Any, bucket: str) -> None:
    """A bucket VM Export may write to, set up as its prerequisites say: ACLs enabled (BucketOwnerPreferred) and
    WRITE + READ_ACP granted to the region's export account (``exportaccounts.export_canonical_id``). Idempotent."""
    from .exportaccounts import export_canonical_id

    s3 = sandbox.client("s3")
    ensure_bucket(sandbox, bucket)
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    grantee = {"Type": "CanonicalUser", "ID": export_canonical_id(sandbox.region)}
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": grantee, "Permission": "WRITE"},
        {"Grantee": grantee, "Permission": "READ_ACP"},
    ]})


def put_disk(sandbox: Any, key: str = "vm.vmdk", data: bytes | None = None, bucket: str = DEFAULT_BUCKET) -> dict:
    """Upload a disk (default: :func:`make_vmdk`) and return the ImportImage ``UserBucket`` dict."""
    ensure_bucket(sandbox, bucket)
    sandbox.client("s3").put_object(Bucket=bucket, Key=key, Body=make_vmdk() if data is None else data)
    return {"S3Bucket": bucket, "S3Key": key}


def start_import(sandbox: Any, user_bucket: dict | None = None, fmt: str = "VMDK", **kwargs: Any) -> str:
    """ImportImage of one disk container; returns the ImportTaskId. The vmimport role must exist."""
    user_bucket = user_bucket or put_disk(sandbox)
    task = sandbox.client("ec2").import_image(
        DiskContainers=[{"Format": fmt, "UserBucket": user_bucket}], **kwargs
    )
    return task["ImportTaskId"]


def describe_import(sandbox: Any, task_id: str) -> dict:
    return sandbox.client("ec2").describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"][0]


def describe_export(sandbox: Any, task_id: str) -> dict:
    return sandbox.client("ec2").describe_export_tasks(ExportTaskIds=[task_id])["ExportTasks"][0]


def finish_tasks(sandbox: Any) -> None:
    """Advance the clock past every default-length import/export plus cleanup."""
    s = sandbox.settings()
    sandbox.advance(max(s["import_duration"], s["import_snapshot_duration"], s["export_duration"])
                    + s["cleanup_duration"] + 1)


def imported_image(sandbox: Any, data: bytes | None = None, key: str = "vm.vmdk") -> str:
    """Import a disk to completion (advancing the sandbox clock); returns the ImageId."""
    sandbox.create_vmimport_role()
    task_id = start_import(sandbox, put_disk(sandbox, key=key, data=data))
    sandbox.advance(sandbox.settings()["import_duration"] + 1)
    task = describe_import(sandbox, task_id)
    if task["Status"] != "completed":
        raise AssertionError(f"import {task_id} ended {task['Status']}: {task.get('StatusMessage')}")
    return task["ImageId"]


def imported_instances(sandbox: Any, count: int = 1, image_id: str | None = None) -> list[str]:
    """Launch ``count`` instances from an imported AMI (imports one if ``image_id`` is None)."""
    image_id = image_id or imported_image(sandbox)
    reservation = sandbox.client("ec2").run_instances(
        ImageId=image_id, MinCount=count, MaxCount=count, InstanceType="t2.micro"
    )
    return [i["InstanceId"] for i in reservation["Instances"]]
