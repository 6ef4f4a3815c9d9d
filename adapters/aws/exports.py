"""VM Export: the export bucket and the grants AWS's own account needs there, and the CreateInstanceExportTask
that writes an instance to it as a disk image (started, found again by the job's tag, followed, cancelled).

The exported object itself is read and removed through `s3`."""

from __future__ import annotations

import json
from dataclasses import dataclass

import botocore.exceptions

from adapters.aws import regions, s3, session, shapes
from adapters.aws.session import AwsCredentials, AwsError

__all__ = ["VMIE_EXPORT_CANONICAL_IDS", "VMIE_EXPORT_DEFAULT_CANONICAL_ID", "ExportTaskInfo",
           "export_bucket_delete_if_empty", "export_bucket_ensure", "export_bucket_plan", "export_bucket_policy",
           "export_grantee_canonical_id", "export_tasks_by_tag", "instance_export_cancel", "instance_export_describe",
           "instance_export_find", "instance_export_start"]

# The canonical account VM Export writes as, per region (VM Import/Export User Guide, "Prerequisites for exporting
# an instance"); every region not listed uses the default.
VMIE_EXPORT_DEFAULT_CANONICAL_ID = "c4d8eabf8db69dbe46bfe0e517100c554f01200b104d59cd408e777ba442a322"
VMIE_EXPORT_CANONICAL_IDS = {
    "af-south-1": "3f7744aeebaf91dd60ab135eb1cf908700c8d2bc9133e61261e6c582be6e33ee",
    "ap-east-1": "97ee7ab57cc9b5034f31e107741a968e595c0d7a19ec23330eae8d045a46edfb",
    "ap-east-2": "a9fa0eb7c8483f9558cd14b24d16e9c4d1555261a320b586a3a06908ff0047ce",
    "ap-northeast-3": "40f22ffd22d6db3b71544ed6cd00c8952d8b0a63a87d58d5b074ec60397db8c9",
    "ap-south-2": "77ab5ec9eac9ade710b7defed37fe0640f93c5eb76ea65a64da49930965f18ca",
    "ap-southeast-3": "de34aaa6b2875fa3d5086459cb4e03147cf1a9f7d03d82f02bedb991ff3d1df5",
    "ap-southeast-4": "8b8ea36ab97c280aa8558c57a380353ac7712f01f82c21598afbb17e188b9ad5",
    "ap-southeast-5": "ed006f67543afcfe0779e356e52d5ed53fa45f95bcd7d277147dfc027aaca0e7",
    "ap-southeast-6": "2dc8fa4ca1c59da5c6a4c5b0e397eea130ec62e49f18cff179034665fd20e8a2",
    "ap-southeast-7": "d011fe83abcc227a7ac0f914ce411d3630c4ef735e92e88ce0aa796dcfecfbdd",
    "ca-west-1": "78e12f8d798f89502177975c4ccdac686c583765cea2bf06e9b34224e2953c83",
    "eu-central-2": "5d9fcea77b2fb3df05fc15c893f212ae1d02adb4b24c13e18586db728a48da67",
    "eu-south-1": "04636d9a349e458b0c1cbf1421858b9788b4ec28b066148d4907bb15c52b5b9c",
    "eu-south-2": "6e81c4c52a37a7f59e103625162ed97bcd0e646593adb107d21310d093151518",
    "il-central-1": "328a78de7561501444823ebeb59152eca7cb58fee2fe2e4223c2cdd9f93ae931",
    "me-central-1": "7d3018832562b7b6c126f5832211fae90bd3eee3ed3afde192d990690267e475",
    "me-south-1": "aa763f2cf70006650562c62a09433f04353db3cba6ba6aeb3550fdc8065d3d9f",
    "mx-central-1": "edaff67fe25d544b855bd0ba9a74a99a2584ab89ceda0a9661bdbeca530d0fca",
}
_VMIE_EXPORT_CANONICAL_ID_BY_PARTITION = {
    "aws-cn": "834bafd86b15b6ca71074df0fd1f93d234b9d5e848a2cb31f880c149003ce36f",
    "aws-us-gov": "af913ca13efe7a94b88392711f6cfc8aa07c9d1454d4f190a624b126733a5602",
}


#
# The export bucket
#


def export_grantee_canonical_id(region: str) -> str:
    """The canonical account VM Export writes the exported image as in `region`."""
    return VMIE_EXPORT_CANONICAL_IDS.get(region) or _VMIE_EXPORT_CANONICAL_ID_BY_PARTITION.get(
        regions.partition_of(region), VMIE_EXPORT_DEFAULT_CANONICAL_ID)


def export_bucket_policy(bucket: str, region: str) -> dict:
    """The bucket policy VM Export needs: read the bucket's ACL and write the image, and nothing more."""
    arn = f"arn:{regions.partition_of(region)}:s3:::{bucket}"
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "VmExportReadAcpAndWrite", "Effect": "Allow",
        "Principal": {"CanonicalUser": export_grantee_canonical_id(region)},
        "Action": ["s3:GetBucketAcl", "s3:PutObject"], "Resource": [arn, f"{arn}/*"],
    }]}


def export_bucket_plan(bucket: str, region: str) -> dict:
    """Everything `export_bucket_ensure` applies to the bucket, to show before asking for consent."""
    return {
        "bucket": bucket, "region": region,
        # ACLs must stay enabled: VM Export refuses a bucket whose object ownership is "bucket owner enforced".
        "object_ownership": "BucketOwnerPreferred",
        "acl_grants": [{"grantee_canonical_id": export_grantee_canonical_id(region), "permission": p}
                       for p in ("READ_ACP", "WRITE")],
        "bucket_policy": export_bucket_policy(bucket, region),
        "block_public_access": True,
        "lifecycle": "abort incomplete multipart uploads after 2 days",
    }


def export_bucket_ensure(credentials: AwsCredentials, region: str, bucket: str) -> bool:
    """Create the bucket (or find it already the tenant's) and give VM Export what it needs there: object ownership
    that keeps ACLs, the READ_ACP and WRITE grants and the same as a bucket policy, all public access blocked, and
    a rule that clears incomplete uploads. Idempotent. Returns whether this call created the bucket.

    A bucket of that name in another account raises AwsError("BucketAlreadyExists") naming it."""
    taken = AwsError("BucketAlreadyExists", f"The bucket name {bucket} is already taken by another AWS account.")
    with session.calling("s3", credentials, region) as client:
        try:
            client.head_bucket(Bucket=bucket)
            exists = True
        except botocore.exceptions.ClientError as exc:
            if session.has_code(exc, "403", "AccessDenied", "Forbidden"):
                raise taken from exc
            if not session.has_code(exc, *s3.NO_BUCKET):
                raise
            exists = False
        try:
            # Also when it exists: only CreateBucket tells "yours" (BucketAlreadyOwnedByYou) from "someone else's".
            s3.create_bucket(client, bucket, region, ObjectOwnership="BucketOwnerPreferred")
        except botocore.exceptions.ClientError as exc:
            if session.has_code(exc, "BucketAlreadyExists"):
                raise taken from exc
            if not session.has_code(exc, "BucketAlreadyOwnedByYou"):
                raise
        _export_bucket_configure(client, bucket, region)
    return not exists


def _export_bucket_configure(client, bucket: str, region: str) -> None:
    grantee = {"Type": "CanonicalUser", "ID": export_grantee_canonical_id(region)}
    client.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    owner = client.get_bucket_acl(Bucket=bucket)["Owner"]
    client.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": grantee, "Permission": "READ_ACP"},
        {"Grantee": grantee, "Permission": "WRITE"},
    ]})
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(export_bucket_policy(bucket, region)))
    s3.abort_incomplete_uploads(client, bucket, "abort-incomplete-export-uploads")


def export_bucket_delete_if_empty(credentials: AwsCredentials, region: str, bucket: str) -> bool:
    """Remove a bucket this portal just created and no longer needs; a bucket holding anything is left alone."""
    with session.calling("s3", credentials, region) as client:
        try:
            client.delete_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            if session.has_code(exc, "BucketNotEmpty", "NoSuchBucket", "404"):
                return False
            raise
    return True


#
# The export task
#


@dataclass(frozen=True)
class ExportTaskInfo:
    task_id: str
    state: str  # active | cancelling | cancelled | completed
    status_message: str
    instance_id: str
    bucket: str
    key: str
    description: str
    tags: dict[str, str]


def _export_task_info(data: dict) -> ExportTaskInfo:
    target = data.get("ExportToS3Task", {})
    return ExportTaskInfo(
        data["ExportTaskId"], data.get("State", ""), data.get("StatusMessage", ""),
        data.get("InstanceExportDetails", {}).get("InstanceId", ""), target.get("S3Bucket", ""),
        target.get("S3Key", ""), data.get("Description", ""), shapes.tag_dict(data.get("Tags")))


def instance_export_start(credentials: AwsCredentials, region: str, *, instance_id: str, bucket: str, prefix: str,
                          target_environment: str, disk_image_format: str, container_format: str, description: str,
                          tags: dict[str, str]) -> ExportTaskInfo:
    """CreateInstanceExportTask. It takes no client token: callers put a token of their own in `tags` and
    `description` first, and look for it with `instance_export_find` before calling this again."""
    with session.calling("ec2", credentials, region) as ec2:
        response = ec2.create_instance_export_task(
            InstanceId=instance_id, TargetEnvironment=target_environment, Description=description[:255],
            ExportToS3Task={"DiskImageFormat": disk_image_format, "ContainerFormat": container_format,
                            "S3Bucket": bucket, "S3Prefix": prefix},
            TagSpecifications=shapes.tag_specifications(tags, "export-instance-task"),
        )
    return _export_task_info(response["ExportTask"])


def instance_export_find(credentials: AwsCredentials, region: str, *, tag_key: str,
                         tag_value: str) -> ExportTaskInfo | None:
    """The export task carrying this tag (or, should tags have been dropped, this value in its description)."""
    with session.calling("ec2", credentials, region) as ec2:
        tasks = [_export_task_info(t) for t in ec2.describe_export_tasks()["ExportTasks"]]
    return next((t for t in tasks if t.tags.get(tag_key) == tag_value or tag_value in t.description), None)


def instance_export_describe(credentials: AwsCredentials, region: str, task_id: str) -> ExportTaskInfo:
    with session.calling("ec2", credentials, region) as ec2:
        tasks = ec2.describe_export_tasks(ExportTaskIds=[task_id])["ExportTasks"]
    return _export_task_info(session.first_or_missing(tasks, "InvalidExportTaskID.NotFound",
                                                      f"Export task {task_id} not found."))


def instance_export_cancel(credentials: AwsCredentials, region: str, task_id: str) -> str:
    """Ask AWS to cancel (it then removes the partial object). Returns the task's state afterwards: "cancelling"
    or "cancelled", "completed" (too late), or "active" when AWS is writing the final image and no longer cancels."""
    with session.calling("ec2", credentials, region) as ec2:
        try:
            ec2.cancel_export_task(ExportTaskId=task_id)
        except botocore.exceptions.ClientError as exc:
            if not session.has_code(exc, "IncorrectState"):
                raise
            return instance_export_describe(credentials, region, task_id).state
    return "cancelling"


def export_tasks_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> list[ExportTaskInfo]:
    with session.calling("ec2", credentials, region) as ec2:
        tasks = ec2.describe_export_tasks(Filters=[shapes.tag_filter(key, value)])["ExportTasks"]
    return [_export_task_info(t) for t in tasks]
