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


# --------------------------------------------------------------------------- export bucket grants

EXPORT_ACCOUNT = "c4d8eabf8db69dbe46bfe0e517100c554f01200b104d59cd408e777ba442a322"  # most regions, us-east-1 too
NO_GRANT = "vm-import-export@amazon.com must have WRITE and READ_ACP permissions on the S3 bucket."


def _exportable_instance(aws):
    image_id = _imported_image(aws, capacity_gib=1)
    return aws.client("ec2").run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                           InstanceType="t2.micro")["Instances"][0]["InstanceId"]


def _export(aws, instance_id, bucket="exports"):
    return aws.client("ec2").create_instance_export_task(
        InstanceId=instance_id, TargetEnvironment="vmware",
        ExportToS3Task={"DiskImageFormat": "VMDK", "ContainerFormat": "ova", "S3Bucket": bucket})["ExportTask"]


def _grant(s3, bucket, permissions, grantee=EXPORT_ACCOUNT):
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        *({"Grantee": {"Type": "CanonicalUser", "ID": grantee}, "Permission": p} for p in permissions)]})


def _policy(bucket, actions, resources=None, principal=None):
    import json

    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": principal or {"CanonicalUser": EXPORT_ACCOUNT}, "Action": actions,
        "Resource": resources or [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]})


def test_export_to_a_bucket_that_grants_vm_export_nothing_is_refused(aws):
    instance_id = _exportable_instance(aws)
    aws.client("s3").create_bucket(Bucket="exports")
    with pytest.raises(ClientError) as exc:
        _export(aws, instance_id)
    code, status = _error(exc)
    assert code == "AuthFailure" and 400 <= status < 500  # a refusal, never a retryable 5xx
    assert exc.value.response["Error"]["Message"] == NO_GRANT
    assert not aws.client("ec2").describe_export_tasks()["ExportTasks"]


@pytest.mark.parametrize("permissions,ok", [
    (["WRITE", "READ_ACP"], True),
    (["FULL_CONTROL"], True),
    (["WRITE"], False),
    (["READ_ACP"], False),
])
def test_the_acl_must_grant_write_and_read_acp_to_the_export_account(aws, permissions, ok):
    instance_id = _exportable_instance(aws)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="exports", ObjectOwnership="BucketOwnerPreferred")
    _grant(s3, "exports", permissions)
    if ok:
        assert _export(aws, instance_id)["State"] == "active"
    else:
        with pytest.raises(ClientError) as exc:
            _export(aws, instance_id)
        assert _error(exc)[0] == "AuthFailure"


def test_a_grant_to_another_account_or_with_acls_disabled_does_not_count(aws):
    instance_id = _exportable_instance(aws)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="exports", ObjectOwnership="BucketOwnerPreferred")
    _grant(s3, "exports", ["WRITE", "READ_ACP"], grantee="0" * 64)
    with pytest.raises(ClientError):
        _export(aws, instance_id)
    # The right grant, but the bucket enforces bucket-owner ownership: S3 ignores its ACL.
    _grant(s3, "exports", ["WRITE", "READ_ACP"])
    s3.put_bucket_ownership_controls(Bucket="exports", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    with pytest.raises(ClientError) as exc:
        _export(aws, instance_id)
    assert _error(exc)[0] == "AuthFailure"


def test_a_bucket_policy_for_the_export_account_works_with_acls_disabled(aws):
    instance_id = _exportable_instance(aws)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="exports", ObjectOwnership="BucketOwnerEnforced")
    s3.put_bucket_policy(Bucket="exports", Policy=_policy("exports", ["s3:PutObject"]))
    with pytest.raises(ClientError):  # GetBucketAcl missing
        _export(aws, instance_id)
    s3.put_bucket_policy(Bucket="exports", Policy=_policy("exports", ["s3:GetBucketAcl", "s3:PutObject"]))
    assert _export(aws, instance_id)["State"] == "active"


def test_a_bucket_policy_for_another_principal_does_not_count(aws):
    instance_id = _exportable_instance(aws)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="exports")
    s3.put_bucket_policy(Bucket="exports", Policy=_policy(
        "exports", ["s3:GetBucketAcl", "s3:PutObject"], principal={"AWS": "arn:aws:iam::123456789012:root"}))
    with pytest.raises(ClientError) as exc:
        _export(aws, instance_id)
    assert _error(exc)[0] == "AuthFailure"


def test_the_export_account_is_the_one_of_the_region(aws):
    """eu-south-1 has an export account of its own: the default account's grant does not do there."""
    from sandbox.aws import vmie

    assert vmie.export_canonical_id("us-east-1") == EXPORT_ACCOUNT
    assert vmie.export_canonical_id("eu-south-1") == (
        "04636d9a349e458b0c1cbf1421858b9788b4ec28b066148d4907bb15c52b5b9c")
    assert vmie.export_canonical_id("cn-north-1") == (
        "834bafd86b15b6ca71074df0fd1f93d234b9d5e848a2cb31f880c149003ce36f")
    assert vmie.export_canonical_id("us-gov-west-1") == (
        "af913ca13efe7a94b88392711f6cfc8aa07c9d1454d4f190a624b126733a5602")


def test_the_grant_helper_makes_a_bucket_vm_export_accepts(aws):
    from sandbox.aws.testing import ensure_export_bucket

    instance_id = _exportable_instance(aws)
    ensure_export_bucket(aws, "exports")
    ensure_export_bucket(aws, "exports")  # idempotent
    assert _export(aws, instance_id)["State"] == "active"


# --------------------------------------------------------------------------- Windows licensing


@pytest.mark.parametrize("platform,license_type,recorded", [
    ("Windows", None, "AWS"),  # "the same as choosing AWS when importing a Windows Server operating system"
    ("Windows", "BYOL", "BYOL"),
    ("Windows", "AWS", "AWS"),
    ("Linux", None, "BYOL"),  # "... and the same as choosing BYOL when importing ... a Linux operating system"
    ("Linux", "BYOL", "BYOL"),
])
def test_import_records_the_license_type_aws_documents(aws, platform, license_type, recorded):
    from sandbox.aws.testing import describe_import, put_disk

    aws.create_vmimport_role()
    extra = {"LicenseType": license_type} if license_type else {}
    started = aws.client("ec2").import_image(Platform=platform, DiskContainers=[
        {"Format": "VMDK", "UserBucket": put_disk(aws, key="lic.vmdk")}], **extra)
    assert started["LicenseType"] == recorded
    aws.advance(aws.settings()["import_duration"] + 1)
    task = describe_import(aws, started["ImportTaskId"])
    assert (task["Status"], task["LicenseType"]) == ("completed", recorded)


# --------------------------------------------------------------------------- ENA

ENA_REFUSAL = ("Enhanced networking with the Elastic Network Adapter (ENA) is required for the '{}' instance type. "
               "Ensure that you are using an AMI that is enabled for ENA.")


def _ena(ec2, image_id):
    return ec2.describe_images(ImageIds=[image_id])["Images"][0].get("EnaSupport", False)


@pytest.mark.parametrize("instance_type", ["t3.micro", "m5.large", "m6i.large", "c5.large"])
def test_a_nitro_type_from_an_image_without_ena_is_refused(aws, instance_type):
    ec2 = aws.client("ec2")
    image_id = ec2.register_image(Name="no-ena")["ImageId"]
    assert _ena(ec2, image_id) is False
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType=instance_type)
    assert _error(exc) == ("InvalidParameterCombination", 400)
    assert exc.value.response["Error"]["Message"] == ENA_REFUSAL.format(instance_type)
    assert not ec2.describe_instances()["Reservations"]


def test_a_xen_type_from_an_image_without_ena_launches(aws):
    ec2 = aws.client("ec2")
    image_id = ec2.register_image(Name="no-ena")["ImageId"]
    assert ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro")["Instances"]


def test_an_image_registered_with_ena_launches_a_nitro_type_and_its_images_inherit_it(aws):
    ec2 = aws.client("ec2")
    image_id = ec2.register_image(Name="ena", EnaSupport=True)["ImageId"]
    assert _ena(ec2, image_id) is True
    instance_id = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                    InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    backup = ec2.create_image(InstanceId=instance_id, Name="backup")["ImageId"]
    assert _ena(ec2, backup) is True
    assert ec2.run_instances(ImageId=backup, MinCount=1, MaxCount=1, InstanceType="m5.large")["Instances"]
    copy = ec2.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name="copy")["ImageId"]
    assert _ena(ec2, copy) is True


def test_windows_imports_get_ena_linux_imports_do_not(aws):
    ec2 = aws.client("ec2")
    windows = _imported_image(aws, capacity_gib=1, platform="Windows")
    assert _ena(ec2, windows) is True
    assert ec2.run_instances(ImageId=windows, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"]
    linux = _imported_image(aws, capacity_gib=1, platform="Linux")
    assert _ena(ec2, linux) is False
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId=linux, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    assert _error(exc)[0] == "InvalidParameterCombination"
