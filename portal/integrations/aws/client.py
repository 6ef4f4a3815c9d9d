"""The AWS adapter: the only module that imports boto3/botocore.

It takes credentials as a plain dataclass, reads endpoints from settings (so the sandbox moto server and real
AWS swap by configuration), returns plain dataclasses and holds no ORM code. Callers translate `AwsError`.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field

import boto3
import botocore.exceptions
from botocore.config import Config
from django.conf import settings


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str = ""
    secret_access_key: str = ""
    session_token: str = ""
    role_arn: str = ""
    external_id: str = ""


@dataclass(frozen=True)
class SubnetInfo:
    subnet_id: str
    cidr_block: str
    availability_zone: str
    name: str = ""


@dataclass(frozen=True)
class SecurityGroupInfo:
    group_id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class KeyPairInfo:
    name: str
    key_pair_id: str = ""
    fingerprint: str = ""


@dataclass(frozen=True)
class VpcResources:
    vpc_id: str
    cidr_block: str
    subnets: list[SubnetInfo] = field(default_factory=list)
    security_groups: list[SecurityGroupInfo] = field(default_factory=list)
    key_pairs: list[KeyPairInfo] = field(default_factory=list)


class AwsError(Exception):
    """An AWS call failed. `code` is AWS's error code (or a local one), `message` is fit to show a user."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@functools.cache
def known_region_codes() -> frozenset[str]:
    """Every EC2 region code botocore knows, across partitions (aws, aws-cn, aws-us-gov, ...)."""
    session = boto3.session.Session()
    codes: set[str] = set()
    for partition in session.get_available_partitions():
        codes.update(session.get_available_regions("ec2", partition_name=partition, allow_non_regional=False))
    return frozenset(codes)


_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=10, read_timeout=60)


def _session(credentials: AwsCredentials, region: str) -> boto3.session.Session:
    base = boto3.session.Session(
        aws_access_key_id=credentials.access_key_id or None,
        aws_secret_access_key=credentials.secret_access_key or None,
        aws_session_token=credentials.session_token or None,
        region_name=region,
    )
    if not credentials.role_arn:
        return base
    sts = base.client("sts", endpoint_url=settings.AWS_ENDPOINT_URL, config=_CONFIG)
    params = {"RoleArn": credentials.role_arn, "RoleSessionName": "vm-migration-portal"}
    if credentials.external_id:
        params["ExternalId"] = credentials.external_id
    with translated_errors():
        assumed = sts.assume_role(**params)["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
        region_name=region,
    )


def client(service: str, credentials: AwsCredentials, region: str):
    return _session(credentials, region).client(service, endpoint_url=settings.AWS_ENDPOINT_URL, config=_CONFIG)


@contextlib.contextmanager
def translated_errors():
    """Turns botocore's exceptions into AwsError, so no caller needs to import botocore."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsError(error.get("Code", "ClientError"), error.get("Message", str(exc))) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise AwsError("NoCredentials", "No AWS credentials are configured for this tenant.") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError("ConnectionError", f"AWS could not be reached: {exc}") from exc


def _tag(tags: list[dict] | None, key: str) -> str:
    return next((t["Value"] for t in tags or [] if t.get("Key") == key), "")


def describe_vpc_resources(credentials: AwsCredentials, region: str, vpc_id: str = "") -> VpcResources:
    """The VPC's subnets and security groups, and the region's key pairs. An empty vpc_id means the region's
    default VPC (the default environment's)."""
    with translated_errors():
        return _describe_vpc_resources(client("ec2", credentials, region), region, vpc_id)


def _describe_vpc_resources(ec2, region: str, vpc_id: str) -> VpcResources:
    if vpc_id:
        vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    else:
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise AwsError("NoDefaultVpc", f"Region {region} has no default VPC.")
    vpc = vpcs[0]
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    subnets = [
        SubnetInfo(s["SubnetId"], s["CidrBlock"], s["AvailabilityZone"], _tag(s.get("Tags"), "Name"))
        for page in ec2.get_paginator("describe_subnets").paginate(Filters=vpc_filter)
        for s in page["Subnets"]
    ]
    groups = [
        SecurityGroupInfo(g["GroupId"], g["GroupName"], g.get("Description", ""))
        for page in ec2.get_paginator("describe_security_groups").paginate(Filters=vpc_filter)
        for g in page["SecurityGroups"]
    ]
    keys = [
        KeyPairInfo(k["KeyName"], k.get("KeyPairId", ""), k.get("KeyFingerprint", ""))
        for k in ec2.describe_key_pairs()["KeyPairs"]
    ]
    return VpcResources(vpc["VpcId"], vpc["CidrBlock"], subnets, groups, keys)


#
# Staging bucket and multipart upload (the disk stream's destination)
#


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    etag: str
    size: int


def staging_bucket_ensure(credentials: AwsCredentials, region: str, bucket: str) -> None:
    """Create the bucket if missing, with a rule that aborts multipart uploads left incomplete (a crashed or
    cancelled migration never leaves parts behind for long)."""
    s3 = client("s3", credentials, region)
    with translated_errors():
        try:
            s3.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            params = {"Bucket": bucket}
            if region != "us-east-1":
                params["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                s3.create_bucket(**params)
            except botocore.exceptions.ClientError as create_exc:
                if create_exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
            "ID": "abort-incomplete-migration-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
        }]})


def multipart_start(s3, bucket: str, key: str, tags: dict[str, str]) -> str:
    with translated_errors():
        tagging = "&".join(f"{k}={v}" for k, v in tags.items())
        return s3.create_multipart_upload(Bucket=bucket, Key=key, Tagging=tagging)["UploadId"]


def multipart_parts(s3, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
    """The parts S3 already holds (the truth after a crash, whatever our checkpoint says)."""
    parts: list[UploadedPart] = []
    with translated_errors():
        for page in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=upload_id):
            parts += [UploadedPart(p["PartNumber"], p["ETag"], p["Size"]) for p in page.get("Parts", [])]
    return parts


def multipart_upload_part(s3, bucket: str, key: str, upload_id: str, part_number: int, body: bytes) -> UploadedPart:
    with translated_errors():
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=body)["ETag"]
    return UploadedPart(part_number, etag, len(body))


def multipart_complete(s3, bucket: str, key: str, upload_id: str, parts: list[UploadedPart]) -> int:
    """Complete the upload and confirm the object exists (CompleteMultipartUpload can fail after a 200)."""
    with translated_errors():
        try:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={
                "Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in sorted(parts, key=lambda p:
                                                                                     p.part_number)]})
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
            # Already completed by an earlier attempt; the HEAD below tells.
        return s3.head_object(Bucket=bucket, Key=key)["ContentLength"]


def multipart_abort(s3, bucket: str, key: str, upload_id: str) -> None:
    with translated_errors():
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchUpload", "404"):
                raise


def object_delete(s3, bucket: str, key: str) -> None:
    with translated_errors():
        s3.delete_object(Bucket=bucket, Key=key)


#
# The vmimport service role
#

VMIMPORT_ROLE = "vmimport"
VMIMPORT_POLICY_NAME = "vmimport"
VMIMPORT_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "vmie.amazonaws.com"}, "Action": "sts:AssumeRole",
                   "Condition": {"StringEquals": {"sts:Externalid": "vmimport"}}}],
}


def vmimport_role_policy(buckets: list[str]) -> dict:
    """The permissions VM Import/Export needs: read the staged disks, register the image."""
    resources = [f"arn:aws:s3:::{b}" for b in buckets] + [f"arn:aws:s3:::{b}/*" for b in buckets]
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"],
         "Resource": resources or ["arn:aws:s3:::*"]},
        {"Effect": "Allow", "Action": ["ec2:ModifySnapshotAttribute", "ec2:CopySnapshot", "ec2:RegisterImage",
                                       "ec2:Describe*"], "Resource": "*"},
    ]}


@dataclass(frozen=True)
class RoleStatus:
    exists: bool
    trusts_vmie: bool
    has_policy: bool


def vmimport_role_status(credentials: AwsCredentials, region: str) -> RoleStatus:
    iam = client("iam", credentials, region)
    with translated_errors():
        try:
            role = iam.get_role(RoleName=VMIMPORT_ROLE)["Role"]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return RoleStatus(False, False, False)
            raise
        trust = role.get("AssumeRolePolicyDocument") or {}
        if isinstance(trust, str):
            import json
            import urllib.parse

            trust = json.loads(urllib.parse.unquote(trust))
        trusts = any("vmie.amazonaws.com" in str(st.get("Principal", {})) for st in trust.get("Statement", []))
        inline = iam.list_role_policies(RoleName=VMIMPORT_ROLE).get("PolicyNames", [])
        attached = iam.list_attached_role_policies(RoleName=VMIMPORT_ROLE).get("AttachedPolicies", [])
        return RoleStatus(True, trusts, bool(inline or attached))


def vmimport_role_repair(credentials: AwsCredentials, region: str, buckets: list[str]) -> RoleStatus:
    """Create the role or put back its trust and policy (idempotent)."""
    import json

    iam = client("iam", credentials, region)
    status = vmimport_role_status(credentials, region)
    with translated_errors():
        if not status.exists:
            iam.create_role(RoleName=VMIMPORT_ROLE, AssumeRolePolicyDocument=json.dumps(VMIMPORT_TRUST_POLICY),
                            Description="VM Import/Export service role (managed by the migration portal)")
        elif not status.trusts_vmie:
            iam.update_assume_role_policy(RoleName=VMIMPORT_ROLE, PolicyDocument=json.dumps(VMIMPORT_TRUST_POLICY))
        iam.put_role_policy(RoleName=VMIMPORT_ROLE, PolicyName=VMIMPORT_POLICY_NAME,
                            PolicyDocument=json.dumps(vmimport_role_policy(buckets)))
    return vmimport_role_status(credentials, region)


#
# VM Import and instances
#


@dataclass(frozen=True)
class ImportTask:
    task_id: str
    status: str  # active | completed | deleting | deleted
    status_message: str
    progress: int
    image_id: str


def import_image(credentials: AwsCredentials, region: str, *, client_token: str, bucket: str, keys: list[str],
                 platform: str, description: str, tags: dict[str, str]) -> ImportTask:
    """Start (or, with the same ClientToken, find again) the import of the staged disks, boot disk first."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        response = ec2.import_image(
            ClientToken=client_token, Description=description[:255], Platform=platform,
            DiskContainers=[{"Description": key.rsplit("/", 1)[-1], "Format": "vmdk",
                             "UserBucket": {"S3Bucket": bucket, "S3Key": key}} for key in keys],
            TagSpecifications=[{"ResourceType": "import-image-task",
                                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )
    return _import_task(response)


def _import_task(data: dict) -> ImportTask:
    try:
        progress = int(data.get("Progress") or 0)
    except ValueError:
        progress = 0
    return ImportTask(data["ImportTaskId"], data.get("Status", ""), data.get("StatusMessage", ""), progress,
                      data.get("ImageId", ""))


def import_image_describe(credentials: AwsCredentials, region: str, task_id: str) -> ImportTask:
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        tasks = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"]
    if not tasks:
        raise AwsError("InvalidConversionTaskId.NotFound", f"Import task {task_id} not found.")
    return _import_task(tasks[0])


def import_image_cancel(credentials: AwsCredentials, region: str, task_id: str) -> None:
    """Cancel; a task that already finished (or is gone) is not an error here."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        try:
            ec2.cancel_import_task(ImportTaskId=task_id, CancelReason="Cancelled in the migration portal")
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if not code.startswith("InvalidConversionTaskId") and code != "IncorrectState":
                raise


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    state: str
    private_ip: str
    instance_type: str
    image_id: str


def _instance_info(data: dict) -> InstanceInfo:
    return InstanceInfo(data["InstanceId"], data.get("State", {}).get("Name", "unknown"),
                        data.get("PrivateIpAddress", ""), data.get("InstanceType", ""), data.get("ImageId", ""))


def run_instance(credentials: AwsCredentials, region: str, *, client_token: str, image_id: str, instance_type: str,
                 subnet_id: str, security_group_id: str, private_ip: str = "", key_name: str = "",
                 tags: dict[str, str]) -> InstanceInfo:
    """Launch one instance; the same ClientToken returns the instance an earlier attempt launched."""
    ec2 = client("ec2", credentials, region)
    params = {"ClientToken": client_token, "ImageId": image_id, "InstanceType": instance_type, "MinCount": 1,
              "MaxCount": 1, "SubnetId": subnet_id, "SecurityGroupIds": [security_group_id],
              "TagSpecifications": [{"ResourceType": "instance",
                                     "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]}
    if private_ip:
        params["PrivateIpAddress"] = private_ip
    if key_name:
        params["KeyName"] = key_name
    with translated_errors():
        return _instance_info(ec2.run_instances(**params)["Instances"][0])


def instance_describe(credentials: AwsCredentials, region: str, instance_id: str) -> InstanceInfo:
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        raise AwsError("InvalidInstanceID.NotFound", f"Instance {instance_id} not found.")
    return _instance_info(instances[0])


def instance_power(credentials: AwsCredentials, region: str, instance_id: str, action: str) -> str:
    """start | stop | reboot; returns the state AWS reports right after."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        if action == "start":
            return ec2.start_instances(InstanceIds=[instance_id])["StartingInstances"][0]["CurrentState"]["Name"]
        if action == "stop":
            return ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]["CurrentState"]["Name"]
        if action == "reboot":
            ec2.reboot_instances(InstanceIds=[instance_id])
            return instance_describe(credentials, region, instance_id).state
    raise ValueError(action)


def private_ips_in_use(credentials: AwsCredentials, region: str, subnet_id: str) -> set[str]:
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        ips = set()
        for page in ec2.get_paginator("describe_network_interfaces").paginate(
                Filters=[{"Name": "subnet-id", "Values": [subnet_id]}]):
            for eni in page["NetworkInterfaces"]:
                ips.update(a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses", []))
        return ips


def instance_terminate(credentials: AwsCredentials, region: str, instance_id: str) -> None:
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        try:
            ec2.terminate_instances(InstanceIds=[instance_id])
        except botocore.exceptions.ClientError as exc:
            if not exc.response.get("Error", {}).get("Code", "").startswith("InvalidInstanceID"):
                raise


def image_deregister(credentials: AwsCredentials, region: str, image_id: str) -> None:
    """Deregister an AMI and delete its snapshots (a cancelled migration leaves no image behind)."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        images = ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"]
        if not images:
            return
        snapshots = [m["Ebs"]["SnapshotId"] for m in images[0].get("BlockDeviceMappings", []) if "Ebs" in m
                     and m["Ebs"].get("SnapshotId")]
        ec2.deregister_image(ImageId=image_id)
        for snapshot in snapshots:
            try:
                ec2.delete_snapshot(SnapshotId=snapshot)
            except botocore.exceptions.ClientError:
                pass  # in use elsewhere or already gone; the image itself is what mattered


def instance_wait_not_pending(credentials: AwsCredentials, region: str, instance_id: str,
                              timeout: float = 300) -> InstanceInfo:
    import time

    deadline = time.monotonic() + timeout
    while True:
        info = instance_describe(credentials, region, instance_id)
        if info.state != "pending" or time.monotonic() > deadline:
            return info
        time.sleep(1)
