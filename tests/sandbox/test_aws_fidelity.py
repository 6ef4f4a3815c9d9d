"""Sandbox fidelity, round 2 (issue 21, AWS): what real AWS refuses and moto alone accepts or answers with a 500.

Each test pins one behaviour of the real peer, as documented in sandbox/aws/README.md with its source.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.aws


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


# --------------------------------------------------------------------------- aborted multipart uploads


@pytest.fixture
def aborted(aws):
    s3 = aws.client("s3", max_attempts=1)
    s3.create_bucket(Bucket="disks")
    upload_id = s3.create_multipart_upload(Bucket="disks", Key="disk-1.vmdk")["UploadId"]
    part = s3.upload_part(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id, PartNumber=1, Body=b"a" * 1024)
    s3.abort_multipart_upload(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id)
    return s3, upload_id, part["ETag"]


def test_upload_part_after_abort_is_no_such_upload(aborted):
    s3, upload_id, _ = aborted
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id, PartNumber=2, Body=b"b" * 1024)
    assert _error(exc) == ("NoSuchUpload", 404)
    assert "aborted or completed" in exc.value.response["Error"]["Message"]


def test_complete_after_abort_is_no_such_upload(aborted):
    s3, upload_id, etag = aborted
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert _error(exc) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket="disks", Key="disk-1.vmdk")
    assert _error(missing)[1] == 404


def test_list_parts_and_abort_again_after_abort_are_no_such_upload(aborted):
    s3, upload_id, _ = aborted
    for call in (lambda: s3.list_parts(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id),
                 lambda: s3.abort_multipart_upload(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id)):
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("NoSuchUpload", 404)


def test_upload_part_with_a_checksum_after_abort_is_no_such_upload(aborted):
    """The portal sends a CRC32 with every part (the sandbox's checksum extension wraps UploadPart)."""
    s3, upload_id, _ = aborted
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id, PartNumber=2, Body=b"c" * 1024,
                       ChecksumAlgorithm="CRC32")
    assert _error(exc) == ("NoSuchUpload", 404)


# --------------------------------------------------------------------------- root-volume overrides in RunInstances


def _imported_image(aws, capacity_gib=3, platform=None):
    from sandbox.aws.testing import describe_import, make_vmdk, put_disk

    aws.create_vmimport_role()
    extra = {"Platform": platform} if platform else {}
    task_id = aws.client("ec2").import_image(DiskContainers=[{"Format": "VMDK", "UserBucket": put_disk(
        aws, key="root.vmdk", data=make_vmdk(capacity=capacity_gib * 1024**3))}], **extra)["ImportTaskId"]
    aws.advance(aws.settings()["import_duration"] + 1)
    return describe_import(aws, task_id)["ImageId"]


def _root(ec2, image_id):
    return ec2.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]


def test_a_root_volume_smaller_than_its_snapshot_is_invalid_block_device_mapping(aws):
    ec2 = aws.client("ec2")
    image_id = _imported_image(aws, capacity_gib=3)
    root = _root(ec2, image_id)
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                          BlockDeviceMappings=[{"DeviceName": root["DeviceName"], "Ebs": {"VolumeSize": 2}}])
    assert _error(exc) == ("InvalidBlockDeviceMapping", 400)
    assert exc.value.response["Error"]["Message"] == (
        f"Volume of size 2GB is smaller than snapshot '{root['Ebs']['SnapshotId']}', expect size >= 3GB")
    assert not ec2.describe_instances()["Reservations"]


def test_a_larger_root_volume_keeps_the_snapshot(aws):
    ec2 = aws.client("ec2")
    image_id = _imported_image(aws, capacity_gib=3)
    root = _root(ec2, image_id)
    instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                                 BlockDeviceMappings=[{"DeviceName": root["DeviceName"],
                                                       "Ebs": {"VolumeSize": 10}}])["Instances"][0]
    volume_id = instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (volume["Size"], volume["SnapshotId"]) == (10, root["Ebs"]["SnapshotId"])


def test_a_root_volume_override_of_a_registered_image_is_checked_and_keeps_the_snapshot(aws):
    """The same for an AMI that is not an import (moto's RegisterImage: a 15 GiB root snapshot)."""
    ec2 = aws.client("ec2")
    image_id = ec2.register_image(Name="registered")["ImageId"]
    root = _root(ec2, image_id)
    size = root["Ebs"]["VolumeSize"]
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                          BlockDeviceMappings=[{"DeviceName": root["DeviceName"], "Ebs": {"VolumeSize": size - 1}}])
    assert _error(exc)[0] == "InvalidBlockDeviceMapping"
    instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                                 BlockDeviceMappings=[{"DeviceName": root["DeviceName"],
                                                       "Ebs": {"VolumeSize": size + 5}}])
    mappings = instance["Instances"][0]["BlockDeviceMappings"]
    assert [m["DeviceName"] for m in mappings] == [root["DeviceName"]]
    volume = ec2.describe_volumes(VolumeIds=[mappings[0]["Ebs"]["VolumeId"]])["Volumes"][0]
    assert (volume["Size"], volume["SnapshotId"]) == (size + 5, root["Ebs"]["SnapshotId"])
