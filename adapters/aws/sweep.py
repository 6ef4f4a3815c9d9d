"""What the orphan sweep needs on the EC2 side: the instances, images and snapshots carrying one of the portal's
tag keys, whatever the value (what a job left behind); and CreateTags, which marks what the sweep must find
(ImportImage tags only its task, not the image and snapshots it registers) or must spare (a job's results).

The sweep's S3 side (objects and unfinished uploads under a prefix) is in `s3`; its import and export tasks, by
tag, in `imports` and `exports`."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from adapters.aws import session, shapes
from adapters.aws.session import AwsCredentials

__all__ = ["TaggedResource", "images_by_tag_key", "instances_by_tag_key", "resources_tag", "snapshots_by_tag_key"]


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


def instances_by_tag_key(credentials: AwsCredentials, region: str, key: str) -> list[TaggedResource]:
    """Instances (not yet terminated) that carry tag `key`, whatever its value."""
    found: list[TaggedResource] = []
    with session.calling("ec2", credentials, region) as ec2:
        for page in ec2.get_paginator("describe_instances").paginate(Filters=[shapes.tag_key_filter(key),
                                                                               shapes.LIVE_INSTANCES]):
            for reservation in page["Reservations"]:
                found += [TaggedResource(i["InstanceId"], i.get("State", {}).get("Name", ""),
                                         shapes.as_datetime(i.get("LaunchTime")), shapes.tag_dict(i.get("Tags")),
                                         client_token=i.get("ClientToken", ""))
                          for i in reservation["Instances"]]
    return found


def images_by_tag_key(credentials: AwsCredentials, region: str, key: str) -> list[TaggedResource]:
    """The account's own images that carry tag `key`, whatever its value."""
    with session.calling("ec2", credentials, region) as ec2:
        images = ec2.describe_images(Owners=["self"], Filters=[shapes.tag_key_filter(key)])["Images"]
    return [TaggedResource(i["ImageId"], i.get("State", ""), shapes.as_datetime(i.get("CreationDate")),
                           shapes.tag_dict(i.get("Tags")), snapshot_ids=shapes.snapshot_ids(i))
            for i in images if i.get("State") != "deregistered"]


def snapshots_by_tag_key(credentials: AwsCredentials, region: str, key: str) -> list[TaggedResource]:
    """The account's own snapshots that carry tag `key`, whatever its value."""
    found: list[TaggedResource] = []
    with session.calling("ec2", credentials, region) as ec2:
        for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"],
                                                                      Filters=[shapes.tag_key_filter(key)]):
            found += [TaggedResource(s["SnapshotId"], s.get("State", ""), shapes.as_datetime(s.get("StartTime")),
                                     shapes.tag_dict(s.get("Tags"))) for s in page["Snapshots"]]
    return found


def resources_tag(credentials: AwsCredentials, region: str, resource_ids: list[str], tags: dict[str, str]) -> None:
    """CreateTags on EC2 resources (instances, images, snapshots); adding a tag a resource has is a no-op. Blank ids
    (a job that never got that far) are left out: EC2 refuses the whole call for one of them."""
    resource_ids = [resource_id for resource_id in resource_ids if resource_id]
    if not resource_ids:
        return
    with session.calling("ec2", credentials, region) as ec2:
        ec2.create_tags(Resources=list(resource_ids), Tags=shapes.tag_list(tags))
