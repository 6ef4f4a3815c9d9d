"""EC2 instances: launched from a migrated or backed-up image, described, powered, terminated, and found again by
the tag of the launch that made them; and the sizes of their EBS volumes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from adapters.aws import session, shapes
from adapters.aws.session import AwsCredentials

__all__ = ["InstanceInfo", "instance_describe", "instance_find_by_tag", "instance_power", "instance_terminate",
           "instance_wait_not_pending", "instances_by_tag", "run_instance", "volume_sizes"]


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
    params = {"ClientToken": client_token, "ImageId": image_id, "InstanceType": instance_type, "MinCount": 1,
              "MaxCount": 1, "SubnetId": subnet_id, "SecurityGroupIds": [security_group_id],
              # The volumes carry the job's tags too, so that what an instance leaves behind is traceable.
              "TagSpecifications": shapes.tag_specifications(tags, "instance", "volume")}
    if private_ip:
        params["PrivateIpAddress"] = private_ip
    if key_name:
        params["KeyName"] = key_name
    with session.calling("ec2", credentials, region) as ec2:
        return _instance_info(ec2.run_instances(**params)["Instances"][0])


def instance_describe(credentials: AwsCredentials, region: str, instance_id: str) -> InstanceInfo:
    with session.calling("ec2", credentials, region) as ec2:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    return _instance_info(session.first_or_missing(instances, "InvalidInstanceID.NotFound",
                                                   f"Instance {instance_id} not found."))


def _tagged(credentials: AwsCredentials, region: str, key: str, value: str) -> list[dict]:
    with session.calling("ec2", credentials, region) as ec2:
        reservations = ec2.describe_instances(Filters=[shapes.tag_filter(key, value),
                                                       shapes.LIVE_INSTANCES])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def instances_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> list[InstanceInfo]:
    """Every instance carrying tag key=value that is not terminated or on its way there (instances are tagged in
    the RunInstances call itself, so one launched by a worker that crashed before saving its id is found)."""
    return [_instance_info(i) for i in _tagged(credentials, region, key, value)]


def instance_find_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> InstanceInfo | None:
    """A not-terminated instance carrying tag key=value (a launch's token): RunInstances' ClientToken already
    makes a retry return the first instance on AWS; looking first also holds where tokens are not honoured."""
    instances = _tagged(credentials, region, key, value)
    return _instance_info(instances[0]) if instances else None


def instance_power(credentials: AwsCredentials, region: str, instance_id: str, action: str) -> str:
    """start | stop | reboot; returns the state AWS reports right after."""
    with session.calling("ec2", credentials, region) as ec2:
        if action == "start":
            return ec2.start_instances(InstanceIds=[instance_id])["StartingInstances"][0]["CurrentState"]["Name"]
        if action == "stop":
            return ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]["CurrentState"]["Name"]
        if action == "reboot":
            ec2.reboot_instances(InstanceIds=[instance_id])
            return instance_describe(credentials, region, instance_id).state
    raise ValueError(action)


def instance_wait_not_pending(credentials: AwsCredentials, region: str, instance_id: str,
                              timeout: float = 300) -> InstanceInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = instance_describe(credentials, region, instance_id)
        if info.state != "pending" or time.monotonic() > deadline:
            return info
        time.sleep(1)


def instance_terminate(credentials: AwsCredentials, region: str, instance_id: str) -> None:
    with session.calling("ec2", credentials, region) as ec2, session.ignoring("InvalidInstanceID*"):
        ec2.terminate_instances(InstanceIds=[instance_id])


def volume_sizes(credentials: AwsCredentials, region: str, volume_ids: tuple[str, ...]) -> list[int]:
    """The sizes (GiB) of these EBS volumes, in the order given (a volume that is gone is left out)."""
    if not volume_ids:
        return []
    with session.calling("ec2", credentials, region) as ec2:
        sizes = {v["VolumeId"]: int(v["Size"]) for v in ec2.describe_volumes(VolumeIds=list(volume_ids))["Volumes"]}
    return [sizes[v] for v in volume_ids if v in sizes]
