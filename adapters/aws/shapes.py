"""AWS's wire shapes to and from plain Python: tag lists, filters, timestamps, an image's snapshots.

Pure functions (no calls to AWS), shared by the service modules so each reads and writes these shapes one way.
"""

from __future__ import annotations

import datetime

# The states of an instance that is not terminated or on its way there.
LIVE_INSTANCES = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}


def tag_list(tags: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_specifications(tags: dict[str, str], *resource_types: str) -> list[dict]:
    """TagSpecifications that tag each of `resource_types` at creation (so the tags exist as soon as it does)."""
    return [{"ResourceType": kind, "Tags": tag_list(tags)} for kind in resource_types]


def tag_dict(tags: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or []}


def tag_filter(key: str, value: str) -> dict:
    return {"Name": f"tag:{key}", "Values": [value]}


def tag_key_filter(key: str) -> dict:
    return {"Name": "tag-key", "Values": [key]}


def snapshot_ids(image: dict) -> tuple[str, ...]:
    """The EBS snapshots an image's block device mappings name, in mapping order."""
    return tuple(m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", [])
                 if m.get("Ebs", {}).get("SnapshotId"))


def as_datetime(value) -> datetime.datetime | None:
    """An aware datetime from what botocore parsed (a datetime) or passed through (an ISO string); None otherwise."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, str) and value:
        try:
            return as_datetime(datetime.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None
