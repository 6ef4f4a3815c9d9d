"""The AWS adapter: the only module that imports boto3/botocore.

It takes credentials as a plain dataclass, reads endpoints from settings (so the sandbox moto server and real
AWS swap by configuration), returns plain dataclasses and holds no ORM code. Callers translate `AwsError`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
from dataclasses import dataclass, field

import boto3
import botocore.exceptions
import botocore.loaders
import botocore.session
from botocore.config import Config
from django.conf import settings

from portal.integrations import peer_errors

try:  # ISA-L's CRC32: zlib's checksum at about four times the speed
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover
    from zlib import crc32 as _crc32


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    role_arn: str = ""
    external_id: str = field(default="", repr=False)


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


# Every call builds a session (credentials differ per tenant and per assumed role); sharing one loader keeps the
# service models parsed once per process instead of once per session (tens of milliseconds of JSON each time).
_LOADER = botocore.loaders.create_loader()


def _new_session(**kwargs) -> boto3.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, **kwargs)


def _platform_session(region: str) -> boto3.session.Session:
    """The platform's own identity (explicit keys from settings, else boto3's default chain: environment, instance
    role). It is used for one thing only, sts:AssumeRole into a tenant's role; never for a tenant's work."""
    return _new_session(
        aws_access_key_id=settings.PLATFORM_AWS_ACCESS_KEY_ID or None,
        aws_secret_access_key=settings.PLATFORM_AWS_SECRET_ACCESS_KEY or None,
        region_name=region,
    )


def _session(credentials: AwsCredentials, region: str) -> boto3.session.Session:
    if credentials.role_arn:
        sts = _platform_session(region).client("sts", endpoint_url=settings.AWS_ENDPOINT_URL, config=_CONFIG,
                                               verify=settings.AWS_CA_BUNDLE)
        params = {"RoleArn": credentials.role_arn, "RoleSessionName": "vm-migration-portal"}
        if credentials.external_id:
            params["ExternalId"] = credentials.external_id
        with translated_errors():
            assumed = sts.assume_role(**params)["Credentials"]
        return _new_session(
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
            region_name=region,
        )
    if not (credentials.access_key_id and credentials.secret_access_key):
        # Without explicit keys boto3 would fall back to the platform's default chain and act in the platform's
        # own account: a tenant's work never runs on the platform's identity.
        raise AwsError("NoCredentials", "No AWS credentials are configured for this tenant.")
    return _new_session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token or None,
        region_name=region,
    )


def platform_account_id() -> str:
    """The AWS account the platform's own identity belongs to (so a tenant cannot hand the portal a role in it)."""
    sts = _platform_session(settings.AWS_DEFAULT_REGION).client("sts", endpoint_url=settings.AWS_ENDPOINT_URL,
                                                                 config=_CONFIG, verify=settings.AWS_CA_BUNDLE)
    with translated_errors():
        return sts.get_caller_identity()["Account"]


def account_of_role(role_arn: str) -> str:
    """The account id inside an IAM role ARN (arn:aws:iam::123456789012:role/name), or "" when it has none."""
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 and parts[2] == "iam" else ""


def client(service: str, credentials: AwsCredentials, region: str):
    return _session(credentials, region).client(service, endpoint_url=settings.AWS_ENDPOINT_URL, config=_CONFIG,
                                                verify=settings.AWS_CA_BUNDLE)


@contextlib.contextmanager
def translated_errors():
    """Turns botocore's exceptions into AwsError, so no caller needs to import botocore."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise _reported(AwsError(error.get("Code", "ClientError"), error.get("Message", str(exc)))) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise _reported(AwsError("NoCredentials", "No AWS credentials are configured for this tenant.")) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise _reported(AwsError("ConnectionError", f"AWS could not be reached: {exc}")) from exc


def _reported(error: AwsError) -> AwsError:
    peer_errors.report(peer_errors.AWS, peer_errors.aws_category(error.code))
    return error


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
    crc32: int | None = None  # the part's CRC32 as S3 checked it (None: S3 listed no checksum)


def _crc32_header(crc32: int) -> str:
    return base64.b64encode(crc32.to_bytes(4, "big")).decode()


def _crc32_value(header: str | None) -> int | None:
    return int.from_bytes(base64.b64decode(header), "big") if header else None


def transfer_client(credentials: AwsCredentials, region: str):
    """The S3 client for the disk data path, which costs what S3 needs and nothing more: each part's CRC32 is
    computed once by the caller and sent as a header, so botocore computes no checksum of its own
    (`when_required`), and over HTTPS the body is not hashed for the signature either (UNSIGNED-PAYLOAD; TLS and
    the CRC32 protect it). Over plain HTTP (only a sandbox) the signature still covers the body."""
    https = (settings.AWS_ENDPOINT_URL or "https://").startswith("https://")
    config = _CONFIG.merge(Config(
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
        parameter_validation=False,  # our own fixed parameters, a few hundred calls per GiB
        max_pool_connections=max(10, settings.MIGRATION_UPLOAD_CONCURRENCY + 2),
        s3={"payload_signing_enabled": False} if https else None))
    return _session(credentials, region).client("s3", endpoint_url=settings.AWS_ENDPOINT_URL, config=config,
                                                verify=settings.AWS_CA_BUNDLE)


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
        # CRC32 on every part: S3 checks each on arrival and lists it back (ListParts), which is how a resumed
        # upload knows that a part it holds has the bytes read again now.
        return s3.create_multipart_upload(Bucket=bucket, Key=key, Tagging=tagging,
                                          ChecksumAlgorithm="CRC32")["UploadId"]


def multipart_parts(s3, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
    """The parts S3 already holds (the truth after a crash, whatever our checkpoint says)."""
    parts: list[UploadedPart] = []
    with translated_errors():
        for page in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=upload_id):
            parts += [UploadedPart(p["PartNumber"], p["ETag"], p["Size"], _crc32_value(p.get("ChecksumCRC32")))
                      for p in page.get("Parts", [])]
    return parts


def multipart_upload_part(s3, bucket: str, key: str, upload_id: str, part_number: int, body: bytes | bytearray,
                          crc32: int | None = None) -> UploadedPart:
    """Upload one part with its CRC32 (`crc32`, when the caller has it already, else computed here)."""
    if crc32 is None:
        crc32 = _crc32(body)
    with translated_errors():
        # A bytearray goes to the socket as it is; botocore wraps bytes in a BytesIO, copied out again in small
        # reads, with an Expect: 100-continue round trip per part. The data path hands bytearrays over.
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=body,
                              ChecksumCRC32=_crc32_header(crc32))["ETag"]
    return UploadedPart(part_number, etag, len(body), crc32)


def multipart_complete(s3, bucket: str, key: str, upload_id: str, parts: list[UploadedPart]) -> int:
    """Complete the upload and confirm the object exists (CompleteMultipartUpload can fail after a 200).

    Raises AwsError("NoSuchUpload") when S3 has neither the upload nor the object: it was aborted, not completed."""
    gone = None
    with translated_errors():
        try:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={
                "Parts": [{"PartNumber": p.part_number, "ETag": p.etag,
                           **({"ChecksumCRC32": _crc32_header(p.crc32)} if p.crc32 is not None else {})}
                          for p in sorted(parts, key=lambda p: p.part_number)]})
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
            # Completed by an earlier attempt, or aborted: the HEAD below tells.
            gone = exc.response["Error"].get("Message", "The specified upload does not exist.")
        try:
            return s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except botocore.exceptions.ClientError as exc:
            if gone is None or exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
    raise _reported(AwsError("NoSuchUpload", gone))


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
                 platform: str, license_type: str, description: str, tags: dict[str, str]) -> ImportTask:
    """Start (or, with the same ClientToken, find again) the import of the staged disks, boot disk first.

    `license_type` (AWS or BYOL) is always sent: left out, AWS picks by the operating system it detects."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        response = ec2.import_image(
            ClientToken=client_token, Description=description[:255], Platform=platform, LicenseType=license_type,
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
    volume_ids: tuple[str, ...] = ()  # the attached EBS volumes, in device order


def _instance_info(data: dict) -> InstanceInfo:
    return InstanceInfo(data["InstanceId"], data.get("State", {}).get("Name", "unknown"),
                        data.get("PrivateIpAddress", ""), data.get("InstanceType", ""), data.get("ImageId", ""),
                        tuple(m["Ebs"]["VolumeId"] for m in data.get("BlockDeviceMappings", []) if "Ebs" in m))


def run_instance(credentials: AwsCredentials, region: str, *, client_token: str, image_id: str, instance_type: str,
                 subnet_id: str, security_group_id: str, private_ip: str = "", key_name: str = "",
                 tags: dict[str, str]) -> InstanceInfo:
    """Launch one instance; the same ClientToken returns the instance an earlier attempt launched."""
    ec2 = client("ec2", credentials, region)
    params = {"ClientToken": client_token, "ImageId": image_id, "InstanceType": instance_type, "MinCount": 1,
              "MaxCount": 1, "SubnetId": subnet_id, "SecurityGroupIds": [security_group_id],
              # The volumes carry the job's tags too, so that what an instance leaves behind is traceable.
              "TagSpecifications": [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                                    for kind in ("instance", "volume")]}
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


def volume_sizes(credentials: AwsCredentials, region: str, volume_ids: tuple[str, ...]) -> list[int]:
    """The sizes (GiB) of these EBS volumes, in the order given (a volume that is gone is left out)."""
    if not volume_ids:
        return []
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        sizes = {v["VolumeId"]: int(v["Size"]) for v in ec2.describe_volumes(VolumeIds=list(volume_ids))["Volumes"]}
    return [sizes[v] for v in volume_ids if v in sizes]


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


#
# AMI backups (CreateImage takes no ClientToken: callers tag the image with their own token and look it up first)
#


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    state: str  # pending | available | failed | error | invalid | deregistered | ...
    state_reason: str
    snapshot_ids: tuple[str, ...]
    progress: int  # 100 once available; while pending, the least advanced of its snapshots


def _image_info(ec2, data: dict) -> ImageInfo:
    snapshots = tuple(m["Ebs"]["SnapshotId"] for m in data.get("BlockDeviceMappings", [])
                      if m.get("Ebs", {}).get("SnapshotId"))
    state = data.get("State", "")
    progress = 100 if state == "available" else 0
    if state == "pending" and snapshots:
        found = ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": list(snapshots)}])["Snapshots"]
        percents = [int(s.get("Progress", "0%").rstrip("%") or 0) for s in found]
        progress = min(percents) if percents else 0
    return ImageInfo(data["ImageId"], state, data.get("StateReason", {}).get("Message", ""), snapshots, progress)


def image_create(credentials: AwsCredentials, region: str, *, instance_id: str, name: str, description: str,
                 no_reboot: bool, tags: dict[str, str]) -> str:
    """CreateImage of an instance, tagged at creation (so the tags exist as soon as the image does)."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        return ec2.create_image(
            InstanceId=instance_id, Name=name[:128], Description=description[:255], NoReboot=no_reboot,
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )["ImageId"]


def image_find_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> ImageInfo | None:
    """The account's own image carrying tag key=value (a job's token), if any."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        images = ec2.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{key}", "Values": [value]}])["Images"]
        images = [i for i in images if i.get("State") != "deregistered"]
        return _image_info(ec2, images[0]) if images else None


def image_describe(credentials: AwsCredentials, region: str, image_id: str) -> ImageInfo | None:
    """The image's state and snapshots; None once it no longer exists."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        images = ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"]
        return _image_info(ec2, images[0]) if images else None


def image_delete(credentials: AwsCredentials, region: str, image_id: str, snapshot_ids=()) -> None:
    """Deregister the image and delete its EBS snapshots (those given and those it still lists). What is already
    gone is not an error, so a caller that crashed halfway simply calls again; any other refusal raises."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        images = ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"]
        snapshots = set(snapshot_ids)
        if images:
            snapshots.update(_image_info(ec2, images[0]).snapshot_ids)
            try:
                ec2.deregister_image(ImageId=image_id)
            except botocore.exceptions.ClientError as exc:
                if not exc.response.get("Error", {}).get("Code", "").startswith("InvalidAMIID"):
                    raise
        for snapshot in sorted(snapshots):
            try:
                ec2.delete_snapshot(SnapshotId=snapshot)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidSnapshot.NotFound":
                    raise


def instance_find_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> InstanceInfo | None:
    """A not-terminated instance carrying tag key=value (a launch's token): RunInstances' ClientToken already
    makes a retry return the first instance on AWS; looking first also holds where tokens are not honoured."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        reservations = ec2.describe_instances(Filters=[
            {"Name": f"tag:{key}", "Values": [value]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    return _instance_info(instances[0]) if instances else None


#
# Instance export to S3 (VM Export): the export buckets, the export task, and the exported object
#

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


@functools.cache
def partition_of(region: str) -> str:
    return boto3.session.Session().get_partition_for_region(region)


def export_grantee_canonical_id(region: str) -> str:
    """The canonical account VM Export writes the exported image as in `region`."""
    return VMIE_EXPORT_CANONICAL_IDS.get(region) or _VMIE_EXPORT_CANONICAL_ID_BY_PARTITION.get(
        partition_of(region), VMIE_EXPORT_DEFAULT_CANONICAL_ID)


def export_bucket_policy(bucket: str, region: str) -> dict:
    """The bucket policy VM Export needs: read the bucket's ACL and write the image, and nothing more."""
    arn = f"arn:{partition_of(region)}:s3:::{bucket}"
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
    s3 = client("s3", credentials, region)
    taken = AwsError("BucketAlreadyExists", f"The bucket name {bucket} is already taken by another AWS account.")
    with translated_errors():
        try:
            s3.head_bucket(Bucket=bucket)
            exists = True
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("403", "AccessDenied", "Forbidden"):
                raise taken from exc
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise
            exists = False
        params = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerPreferred"}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            # Also when it exists: only CreateBucket tells "yours" (BucketAlreadyOwnedByYou) from "someone else's".
            s3.create_bucket(**params)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "BucketAlreadyExists":
                raise taken from exc
            if code != "BucketAlreadyOwnedByYou":
                raise
        _export_bucket_configure(s3, bucket, region)
    return not exists


def _export_bucket_configure(s3, bucket: str, region: str) -> None:
    import json

    grantee = {"Type": "CanonicalUser", "ID": export_grantee_canonical_id(region)}
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": grantee, "Permission": "READ_ACP"},
        {"Grantee": grantee, "Permission": "WRITE"},
    ]})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(export_bucket_policy(bucket, region)))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "abort-incomplete-export-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
    }]})


def export_bucket_delete_if_empty(credentials: AwsCredentials, region: str, bucket: str) -> bool:
    """Remove a bucket this portal just created and no longer needs; a bucket holding anything is left alone."""
    s3 = client("s3", credentials, region)
    with translated_errors():
        try:
            s3.delete_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("BucketNotEmpty", "NoSuchBucket", "404"):
                return False
            raise
    return True


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
    s3 = data.get("ExportToS3Task", {})
    return ExportTaskInfo(
        data["ExportTaskId"], data.get("State", ""), data.get("StatusMessage", ""),
        data.get("InstanceExportDetails", {}).get("InstanceId", ""), s3.get("S3Bucket", ""), s3.get("S3Key", ""),
        data.get("Description", ""), {t["Key"]: t.get("Value", "") for t in data.get("Tags", [])})


def instance_export_start(credentials: AwsCredentials, region: str, *, instance_id: str, bucket: str, prefix: str,
                          target_environment: str, disk_image_format: str, container_format: str, description: str,
                          tags: dict[str, str]) -> ExportTaskInfo:
    """CreateInstanceExportTask. It takes no client token: callers put a token of their own in `tags` and
    `description` first, and look for it with `instance_export_find` before calling this again."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        response = ec2.create_instance_export_task(
            InstanceId=instance_id, TargetEnvironment=target_environment, Description=description[:255],
            ExportToS3Task={"DiskImageFormat": disk_image_format, "ContainerFormat": container_format,
                            "S3Bucket": bucket, "S3Prefix": prefix},
            TagSpecifications=[{"ResourceType": "export-instance-task",
                                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )
    return _export_task_info(response["ExportTask"])


def instance_export_find(credentials: AwsCredentials, region: str, *, tag_key: str,
                         tag_value: str) -> ExportTaskInfo | None:
    """The export task carrying this tag (or, should tags have been dropped, this value in its description)."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        tasks = [_export_task_info(t) for t in ec2.describe_export_tasks()["ExportTasks"]]
    return next((t for t in tasks if t.tags.get(tag_key) == tag_value or tag_value in t.description), None)


def instance_export_describe(credentials: AwsCredentials, region: str, task_id: str) -> ExportTaskInfo:
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        tasks = ec2.describe_export_tasks(ExportTaskIds=[task_id])["ExportTasks"]
    if not tasks:
        raise AwsError("InvalidExportTaskID.NotFound", f"Export task {task_id} not found.")
    return _export_task_info(tasks[0])


def instance_export_cancel(credentials: AwsCredentials, region: str, task_id: str) -> str:
    """Ask AWS to cancel (it then removes the partial object). Returns the task's state afterwards: "cancelling"
    or "cancelled", "completed" (too late), or "active" when AWS is writing the final image and no longer cancels."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        try:
            ec2.cancel_export_task(ExportTaskId=task_id)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "IncorrectState":
                raise
            return instance_export_describe(credentials, region, task_id).state
    return "cancelling"


def object_size(credentials: AwsCredentials, region: str, bucket: str, key: str) -> int | None:
    """HeadObject's ContentLength, or None when there is no such object."""
    s3 = client("s3", credentials, region)
    with translated_errors():
        try:
            return s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise


def objects_delete_under(credentials: AwsCredentials, region: str, bucket: str, prefix: str) -> int:
    """Delete every object and abort every unfinished multipart upload whose key starts with `prefix` (an exact
    key included). Returns how many objects were deleted."""
    if not prefix:
        raise ValueError("refusing to empty a whole bucket")
    s3 = client("s3", credentials, region)
    deleted = 0
    with translated_errors():
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                multipart_abort(s3, bucket, upload["Key"], upload["UploadId"])
    return deleted


def presigned_get_url(credentials: AwsCredentials, region: str, bucket: str, key: str, expires_seconds: int) -> str:
    """A time-limited download link (SigV4, so at most seven days; with an assumed role, no longer than the role's
    session)."""
    s3 = _session(credentials, region).client(
        "s3", endpoint_url=settings.AWS_ENDPOINT_URL, config=_CONFIG.merge(Config(signature_version="s3v4")))
    with translated_errors():
        return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                         ExpiresIn=int(expires_seconds))


#
# Orphan sweep: listing what the portal left behind (by bucket prefix or by tag), so it can be removed
#

import datetime  # here, with the section it serves, so that appends to this module do not collide


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: datetime.datetime


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: datetime.datetime


@dataclass(frozen=True)
class ImportTaskDetail:
    task_id: str
    status: str  # active | completed | deleting | deleted
    image_id: str
    snapshot_ids: tuple[str, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class TaggedResource:
    """An instance, image or snapshot: its id, state, when it was made and its tags (and, for an instance, the
    ClientToken it was launched with; for an image, its snapshots)."""

    resource_id: str
    state: str
    created: datetime.datetime | None
    tags: dict[str, str]
    client_token: str = ""
    snapshot_ids: tuple[str, ...] = ()


def _tag_dict(tags: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or []}


def _as_datetime(value) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, str) and value:
        try:
            return _as_datetime(datetime.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


_NO_BUCKET = ("NoSuchBucket", "404", "NotFound")


def objects_list(credentials: AwsCredentials, region: str, bucket: str, prefix: str) -> list[StoredObject]:
    """The objects under `prefix`; a bucket that does not exist holds none."""
    s3 = client("s3", credentials, region)
    found: list[StoredObject] = []
    with translated_errors():
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                found += [StoredObject(o["Key"], o.get("Size", 0), _as_datetime(o["LastModified"]))
                          for o in page.get("Contents", [])]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _NO_BUCKET:
                raise
    return found


def multipart_uploads_list(credentials: AwsCredentials, region: str, bucket: str,
                           prefix: str) -> list[PendingUpload]:
    """The unfinished multipart uploads under `prefix`; a bucket that does not exist holds none."""
    s3 = client("s3", credentials, region)
    found: list[PendingUpload] = []
    with translated_errors():
        try:
            for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
                found += [PendingUpload(u["Key"], u["UploadId"], _as_datetime(u["Initiated"]))
                          for u in page.get("Uploads", [])]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _NO_BUCKET:
                raise
    return found


def multipart_abort_upload(credentials: AwsCredentials, region: str, bucket: str, key: str, upload_id: str) -> None:
    multipart_abort(client("s3", credentials, region), bucket, key, upload_id)


def object_tags(credentials: AwsCredentials, region: str, bucket: str, key: str) -> dict[str, str]:
    """The object's tags; none for an object that does not exist."""
    s3 = client("s3", credentials, region)
    with translated_errors():
        try:
            return _tag_dict(s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet"))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", *_NO_BUCKET):
                return {}
            raise


def object_tag(credentials: AwsCredentials, region: str, bucket: str, key: str, tags: dict[str, str]) -> None:
    """Add `tags` to the object's own (PutObjectTagging replaces the set: the existing tags are kept)."""
    s3 = client("s3", credentials, region)
    with translated_errors():
        current = _tag_dict(s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet"))
        merged = {**current, **tags}
        s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={
            "TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]})


def resources_tag(credentials: AwsCredentials, region: str, resource_ids, tags: dict[str, str]) -> None:
    """CreateTags on EC2 resources (instances, images, snapshots); adding a tag a resource has is a no-op."""
    ids = [r for r in resource_ids if r]
    if not ids:
        return
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        ec2.create_tags(Resources=ids, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def object_remove(credentials: AwsCredentials, region: str, bucket: str, key: str) -> None:
    object_delete(client("s3", credentials, region), bucket, key)


def import_tasks_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> list[ImportTaskDetail]:
    """Every ImportImage task carrying tag key=value, with the image and snapshots a completed one made."""
    ec2 = client("ec2", credentials, region)
    found: list[ImportTaskDetail] = []
    with translated_errors():
        for page in ec2.get_paginator("describe_import_image_tasks").paginate(
                Filters=[{"Name": f"tag:{key}", "Values": [value]}]):
            for t in page.get("ImportImageTasks", []):
                snapshots = tuple(d["SnapshotId"] for d in t.get("SnapshotDetails", []) if d.get("SnapshotId"))
                found.append(ImportTaskDetail(t["ImportTaskId"], t.get("Status", ""), t.get("ImageId", ""),
                                              snapshots, _tag_dict(t.get("Tags"))))
    return found


def export_tasks_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> list[ExportTaskInfo]:
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        tasks = ec2.describe_export_tasks(Filters=[{"Name": f"tag:{key}", "Values": [value]}])["ExportTasks"]
    return [_export_task_info(t) for t in tasks]


def instances_by_tag_key(credentials: AwsCredentials, region: str, key: str) -> list[TaggedResource]:
    """Instances (not yet terminated) that carry tag `key`, whatever its value."""
    ec2 = client("ec2", credentials, region)
    found: list[TaggedResource] = []
    with translated_errors():
        for page in ec2.get_paginator("describe_instances").paginate(Filters=[
                {"Name": "tag-key", "Values": [key]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]):
            for reservation in page["Reservations"]:
                found += [TaggedResource(i["InstanceId"], i.get("State", {}).get("Name", ""),
                                         _as_datetime(i.get("LaunchTime")), _tag_dict(i.get("Tags")),
                                         client_token=i.get("ClientToken", ""))
                          for i in reservation["Instances"]]
    return found


def images_by_tag_key(credentials: AwsCredentials, region: str, key: str) -> list[TaggedResource]:
    """The account's own images that carry tag `key`, whatever its value."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag-key", "Values": [key]}])["Images"]
    return [TaggedResource(i["ImageId"], i.get("State", ""), _as_datetime(i.get("CreationDate")),
                           _tag_dict(i.get("Tags")),
                           snapshot_ids=tuple(m["Ebs"]["SnapshotId"] for m in i.get("BlockDeviceMappings", [])
                                              if m.get("Ebs", {}).get("SnapshotId")))
            for i in images if i.get("State") != "deregistered"]


def snapshots_by_tag_key(credentials: AwsCredentials, region: str, key: str) -> list[TaggedResource]:
    """The account's own snapshots that carry tag `key`, whatever its value."""
    ec2 = client("ec2", credentials, region)
    found: list[TaggedResource] = []
    with translated_errors():
        for page in ec2.get_paginator("describe_snapshots").paginate(
                OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": [key]}]):
            found += [TaggedResource(s["SnapshotId"], s.get("State", ""), _as_datetime(s.get("StartTime")),
                                     _tag_dict(s.get("Tags"))) for s in page["Snapshots"]]
    return found


def snapshot_delete(credentials: AwsCredentials, region: str, snapshot_id: str) -> None:
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        try:
            ec2.delete_snapshot(SnapshotId=snapshot_id)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidSnapshot.NotFound":
                raise


def snapshot_exists(credentials: AwsCredentials, region: str, snapshot_id: str) -> bool:
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        found = ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])["Snapshots"]
    return bool(found)


#
# Releasing what a migration made (cancel or failure): found from the import task and by the job's tag
#


def import_image_detail(credentials: AwsCredentials, region: str, task_id: str) -> ImportTaskDetail | None:
    """One ImportImage task with the image and snapshots it made (a completed task reports them even when the
    caller never saw it complete); None once AWS no longer knows the task."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        try:
            tasks = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"]
        except botocore.exceptions.ClientError as exc:
            if not exc.response.get("Error", {}).get("Code", "").startswith("InvalidConversionTaskId"):
                raise
            tasks = []
    if not tasks:
        return None
    t = tasks[0]
    snapshots = tuple(d["SnapshotId"] for d in t.get("SnapshotDetails", []) if d.get("SnapshotId"))
    return ImportTaskDetail(t["ImportTaskId"], t.get("Status", ""), t.get("ImageId", ""), snapshots,
                            _tag_dict(t.get("Tags")))


def instances_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> list[InstanceInfo]:
    """Every instance carrying tag key=value that is not terminated or on its way there (instances are tagged in
    the RunInstances call itself, so one launched by a worker that crashed before saving its id is found)."""
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        reservations = ec2.describe_instances(Filters=[
            {"Name": f"tag:{key}", "Values": [value]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
    return [_instance_info(i) for r in reservations for i in r["Instances"]]


def resources_tag(credentials: AwsCredentials, region: str, resource_ids: list[str], tags: dict[str, str]) -> None:
    """Tag EC2 resources that were made without our tags (the image and snapshots ImportImage registers)."""
    if not resource_ids:
        return
    ec2 = client("ec2", credentials, region)
    with translated_errors():
        ec2.create_tags(Resources=list(resource_ids), Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
