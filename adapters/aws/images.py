"""AMIs and their EBS snapshots: the backups made of an instance (CreateImage), and removing an image with its
snapshots once a migration or a retention no longer keeps it.

CreateImage takes no ClientToken: callers tag the image with a token of their own and look it up first."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import botocore.exceptions

from adapters.aws import session, shapes
from adapters.aws.session import AwsCredentials

__all__ = ["ImageInfo", "image_create", "image_delete", "image_deregister", "image_describe", "image_find_by_tag",
           "snapshot_delete", "snapshot_exists"]


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    state: str  # pending | available | failed | error | invalid | deregistered | ...
    state_reason: str
    snapshot_ids: tuple[str, ...]
    progress: int  # 100 once available; while pending, the least advanced of its snapshots


def _image_info(ec2, data: dict) -> ImageInfo:
    snapshots = shapes.snapshot_ids(data)
    state = data.get("State", "")
    progress = 100 if state == "available" else 0
    if state == "pending" and snapshots:
        found = ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": list(snapshots)}])["Snapshots"]
        percents = [int(s.get("Progress", "0%").rstrip("%") or 0) for s in found]
        progress = min(percents) if percents else 0
    return ImageInfo(data["ImageId"], state, data.get("StateReason", {}).get("Message", ""), snapshots, progress)


def _images(ec2, image_id: str) -> list[dict]:
    # A filter, not ImageIds=[...]: an image that is gone is an empty answer rather than an error.
    return ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"]


def image_create(credentials: AwsCredentials, region: str, *, instance_id: str, name: str, description: str,
                 no_reboot: bool, tags: dict[str, str]) -> str:
    """CreateImage of an instance, tagged at creation."""
    with session.calling("ec2", credentials, region) as ec2:
        return ec2.create_image(
            InstanceId=instance_id, Name=name[:128], Description=description[:255], NoReboot=no_reboot,
            TagSpecifications=shapes.tag_specifications(tags, "image"),
        )["ImageId"]


def image_find_by_tag(credentials: AwsCredentials, region: str, key: str, value: str) -> ImageInfo | None:
    """The account's own image carrying tag key=value (a job's token), if any."""
    with session.calling("ec2", credentials, region) as ec2:
        images = ec2.describe_images(Owners=["self"], Filters=[shapes.tag_filter(key, value)])["Images"]
        images = [i for i in images if i.get("State") != "deregistered"]
        return _image_info(ec2, images[0]) if images else None


def image_describe(credentials: AwsCredentials, region: str, image_id: str) -> ImageInfo | None:
    """The image's state and snapshots; None once it no longer exists."""
    with session.calling("ec2", credentials, region) as ec2:
        images = _images(ec2, image_id)
        return _image_info(ec2, images[0]) if images else None


def image_deregister(credentials: AwsCredentials, region: str, image_id: str) -> None:
    """Deregister an AMI and delete its snapshots (a cancelled migration leaves no image behind)."""
    with session.calling("ec2", credentials, region) as ec2:
        images = _images(ec2, image_id)
        if not images:
            return
        snapshots = shapes.snapshot_ids(images[0])
        ec2.deregister_image(ImageId=image_id)
        for snapshot in snapshots:
            # In use elsewhere or already gone; the image itself is what mattered.
            with contextlib.suppress(botocore.exceptions.ClientError):
                ec2.delete_snapshot(SnapshotId=snapshot)


def image_delete(credentials: AwsCredentials, region: str, image_id: str, snapshot_ids=()) -> None:
    """Deregister the image and delete its EBS snapshots (those given and those it still lists). What is already
    gone is not an error, so a caller that crashed halfway simply calls again; any other refusal raises."""
    with session.calling("ec2", credentials, region) as ec2:
        images = _images(ec2, image_id)
        snapshots = set(snapshot_ids)
        if images:
            snapshots.update(_image_info(ec2, images[0]).snapshot_ids)
            with session.ignoring("InvalidAMIID*"):
                ec2.deregister_image(ImageId=image_id)
        for snapshot in sorted(snapshots):
            with session.ignoring("InvalidSnapshot.NotFound"):
                ec2.delete_snapshot(SnapshotId=snapshot)


def snapshot_delete(credentials: AwsCredentials, region: str, snapshot_id: str) -> None:
    with session.calling("ec2", credentials, region) as ec2, session.ignoring("InvalidSnapshot.NotFound"):
        ec2.delete_snapshot(SnapshotId=snapshot_id)


def snapshot_exists(credentials: AwsCredentials, region: str, snapshot_id: str) -> bool:
    with session.calling("ec2", credentials, region) as ec2:
        found = ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])["Snapshots"]
    return bool(found)
