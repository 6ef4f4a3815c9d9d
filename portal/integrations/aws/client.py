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
