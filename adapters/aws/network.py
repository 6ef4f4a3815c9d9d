"""The network a migrated instance lands in: a VPC's subnets, security groups and key pairs, the private
addresses a subnet already uses, and the instance types each availability zone offers."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.aws import session, shapes
from adapters.aws.session import AwsCredentials, AwsError

__all__ = ["KeyPairInfo", "LaunchTargets", "SecurityGroupInfo", "SubnetInfo", "VpcResources",
           "describe_launch_targets", "describe_vpc_resources"]


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


def describe_vpc_resources(credentials: AwsCredentials, region: str, vpc_id: str = "") -> VpcResources:
    """The VPC's subnets and security groups, and the region's key pairs. An empty vpc_id means the region's
    default VPC (the default environment's)."""
    with session.translated_errors():
        return _describe_vpc_resources(session.client("ec2", credentials, region), region, vpc_id)


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
        SubnetInfo(s["SubnetId"], s["CidrBlock"], s["AvailabilityZone"], shapes.tag_dict(s.get("Tags")).get("Name", ""))
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


@dataclass(frozen=True)
class LaunchTargets:
    """What an instance could be launched into right now: the VPC's resources as AWS has them (not as last synced),
    the instance types offered in each availability zone of its subnets, and the private addresses in use per
    subnet."""

    resources: VpcResources
    offerings: dict[str, frozenset[str]] = field(default_factory=dict)  # availability zone -> instance types
    ips_in_use: dict[str, frozenset[str]] = field(default_factory=dict)  # subnet id -> private addresses


def describe_launch_targets(credentials: AwsCredentials, region: str, vpc_id: str = "") -> LaunchTargets:
    """One round of describes for a whole VPC, so that checking many migrations costs AWS the same as one."""
    with session.calling("ec2", credentials, region) as ec2:
        resources = _describe_vpc_resources(ec2, region, vpc_id)
        zones = sorted({s.availability_zone for s in resources.subnets})
        offerings: dict[str, set[str]] = {zone: set() for zone in zones}
        if zones:
            for page in ec2.get_paginator("describe_instance_type_offerings").paginate(
                    LocationType="availability-zone", Filters=[{"Name": "location", "Values": zones}]):
                for offer in page["InstanceTypeOfferings"]:
                    offerings.setdefault(offer["Location"], set()).add(offer["InstanceType"])
        in_use: dict[str, set[str]] = {s.subnet_id: set() for s in resources.subnets}
        for page in ec2.get_paginator("describe_network_interfaces").paginate(
                Filters=[{"Name": "vpc-id", "Values": [resources.vpc_id]}]):
            for eni in page["NetworkInterfaces"]:
                in_use.setdefault(eni.get("SubnetId", ""), set()).update(
                    a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses", []))
    return LaunchTargets(resources, {k: frozenset(v) for k, v in offerings.items()},
                         {k: frozenset(v) for k, v in in_use.items()})
