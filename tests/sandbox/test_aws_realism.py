"""What real AWS does that moto alone hides: the vmimport role's S3 permissions are applied by ImportImage, a
multi-disk import gives an AMI (and instances) with every disk, EC2 throttles Describe calls, S3 answers bursts
of 503 SlowDown.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from sandbox.aws import iampolicy
from sandbox.aws.testing import describe_import, make_vmdk, put_disk, start_import

pytestmark = pytest.mark.aws

GIB = 1024**3
FORBIDDEN = "ClientError: We do not have access to the given resource. Reason 403 Forbidden"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "vmie.amazonaws.com"}, "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"sts:Externalid": "vmimport"}}}]}
EC2_PART = {"Effect": "Allow", "Action": ["ec2:ModifySnapshotAttribute", "ec2:CopySnapshot", "ec2:RegisterImage",
                                          "ec2:Describe*"], "Resource": "*"}


def _error(exc) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def make_role(aws, statements, name="vmimport", managed=False):
    iam = aws.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    if managed:
        arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=document)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    else:
        iam.put_role_policy(RoleName=name, PolicyName="vmimport", PolicyDocument=document)


def import_status(aws, **kwargs) -> dict:
    task_id = start_import(aws, put_disk(aws, key="vm.vmdk", bucket="staging"), **kwargs)
    aws.advance(aws.settings()["import_duration"] + aws.settings()["cleanup_duration"] + 1)
    return describe_import(aws, task_id)


# --------------------------------------------------------------------------- the role's S3 permissions


def test_role_without_s3_read_fails_the_import_like_aws(aws):
    make_role(aws, [EC2_PART])  # trust is right, the S3 part is missing
    task = import_status(aws)
    assert (task["Status"], task["StatusMessage"]) == ("deleted", FORBIDDEN)
    assert "ImageId" not in task


def test_role_for_another_bucket_fails_the_import(aws):
    aws.create_vmimport_role(buckets=["some-other-bucket"])
    task = import_status(aws)
    assert (task["Status"], task["StatusMessage"]) == ("deleted", FORBIDDEN)


def test_role_with_get_object_but_not_list_bucket_fails(aws):
    make_role(aws, [EC2_PART, {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetBucketLocation"],
                               "Resource": ["arn:aws:s3:::staging", "arn:aws:s3:::staging/*"]}])
    assert import_status(aws)["StatusMessage"] == FORBIDDEN


def test_explicit_deny_wins(aws):
    make_role(aws, [EC2_PART, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:Get*", "Resource": "arn:aws:s3:::staging/*"}])
    assert import_status(aws)["StatusMessage"] == FORBIDDEN


def test_attached_managed_policy_with_bucket_access_completes(aws):
    make_role(aws, [EC2_PART, {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"],
                               "Resource": ["arn:aws:s3:::staging", "arn:aws:s3:::staging/*"]}], managed=True)
    task = import_status(aws)
    assert task["Status"] == "completed" and task["ImageId"].startswith("ami-")


def test_policy_evaluator_wildcards():
    allow = {"Statement": [{"Effect": "Allow", "Action": "S3:Get*", "Resource": "arn:aws:s3:::stag?ng/*"}]}
    assert iampolicy.evaluate([allow], "s3:GetObject", "arn:aws:s3:::staging/a/b.vmdk")
    assert not iampolicy.evaluate([allow], "s3:PutObject", "arn:aws:s3:::staging/a")
    assert not iampolicy.evaluate([allow], "s3:GetObject", "arn:aws:s3:::staging")  # bucket ARN is not bucket/*
    not_action = {"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}
    assert iampolicy.evaluate([json.dumps(not_action)], "s3:ListBucket", "arn:aws:s3:::x")
    assert iampolicy.s3_read_denials([allow], "staging", "k") == [
        "s3:GetBucketLocation on arn:aws:s3:::staging", "s3:ListBucket on arn:aws:s3:::staging"]


# --------------------------------------------------------------------------- multi-disk images


def test_multi_disk_import_maps_every_disk_and_instances_get_a_volume_each(aws):
    aws.create_vmimport_role()
    capacities = [GIB + 512 * 1024 * 1024, 64 * 1024 * 1024, 3 * GIB + 1]  # -> 2, 1, 4 GiB
    containers = []
    for i, capacity in enumerate(capacities):
        containers.append({"Format": "VMDK", "UserBucket": put_disk(
            aws, key=f"disk{i}.vmdk", data=make_vmdk(capacity=capacity, label=f"disk {i}"))})
    ec2 = aws.client("ec2")
    task_id = ec2.import_image(DiskContainers=containers)["ImportTaskId"]
    aws.advance(aws.settings()["import_duration"] + 1)
    task = describe_import(aws, task_id)
    assert task["Status"] == "completed"

    image = ec2.describe_images(ImageIds=[task["ImageId"]])["Images"][0]
    assert image["RootDeviceName"] == "/dev/sda1"
    mappings = {m["DeviceName"]: m["Ebs"] for m in image["BlockDeviceMappings"]}
    assert {d: e["VolumeSize"] for d, e in mappings.items()} == {"/dev/sda1": 2, "/dev/sdb": 1, "/dev/sdc": 4}
    details = {d["DeviceName"]: d["SnapshotId"] for d in task["SnapshotDetails"]}
    assert {d: e["SnapshotId"] for d, e in mappings.items()} == details
    snapshots = ec2.describe_snapshots(SnapshotIds=list(details.values()))["Snapshots"]
    assert {s["SnapshotId"]: s["VolumeSize"] for s in snapshots} == {
        details[d]: e["VolumeSize"] for d, e in mappings.items()}
    with pytest.raises(ClientError) as exc:  # in use by the registered image
        ec2.delete_snapshot(SnapshotId=details["/dev/sdb"])
    assert _error(exc)[0] == "InvalidSnapshot.InUse"

    # t2: a Linux import is not ENA-enabled, and t3 (Nitro) requires ENA (tests/sandbox/test_aws_fidelity.py)
    instance_id = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1,
                                    InstanceType="t2.medium")["Instances"][0]["InstanceId"]
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    by_device = {v["Attachments"][0]["Device"]: v for v in volumes}
    assert {d: v["Size"] for d, v in by_device.items()} == {"/dev/sda1": 2, "/dev/sdb": 1, "/dev/sdc": 4}
    assert {d: v["SnapshotId"] for d, v in by_device.items()} == details


def test_single_disk_root_snapshot_is_sized_from_the_disk(aws):
    aws.create_vmimport_role()
    task_id = start_import(aws, put_disk(aws, data=make_vmdk(capacity=64 * 1024 * 1024)))
    aws.advance(aws.settings()["import_duration"] + 1)
    image_id = describe_import(aws, task_id)["ImageId"]
    image = aws.client("ec2").describe_images(ImageIds=[image_id])["Images"][0]
    assert [(m["DeviceName"], m["Ebs"]["VolumeSize"]) for m in image["BlockDeviceMappings"]] == [("/dev/sda1", 1)]
    snapshot_ids = {s["SnapshotId"] for s in aws.client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snapshot_ids == {image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]}  # no stray 15 GiB snapshot


# --------------------------------------------------------------------------- throttling


def test_ec2_describe_throttling(aws):
    ec2 = aws.client("ec2", max_attempts=1)
    state = aws.set_faults(ec2_throttle=True, ec2_throttle_count=2)
    assert (state["ec2_throttle"], state["ec2_throttle_count"], state["ec2_throttle_actions"]) == (True, 2, None)
    ec2.create_key_pair(KeyName="not-a-describe")  # only Describe* calls are throttled by default
    for call in (ec2.describe_instances, ec2.describe_images):
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("RequestLimitExceeded", 503)
    ec2.describe_instances()  # the burst is over
    assert aws.faults()["injected"]["ec2"] == 2


def test_ec2_throttling_of_named_actions_and_boto3_retries(aws):
    aws.set_faults(ec2_throttle=True, ec2_throttle_count=-1, ec2_throttle_actions=["DescribeImportImageTasks"])
    aws.client("ec2", max_attempts=1).describe_instances()
    with pytest.raises(ClientError) as exc:
        aws.client("ec2", max_attempts=1).describe_import_image_tasks()
    assert _error(exc) == ("RequestLimitExceeded", 503)
    aws.set_faults(ec2_throttle=True, ec2_throttle_count=1, ec2_throttle_actions=["DescribeImportImageTasks"])
    assert aws.client("ec2", max_attempts=3).describe_import_image_tasks()["ImportImageTasks"] == []  # retried
    aws.set_faults(ec2_throttle=False)
    assert aws.faults()["ec2_throttle_count"] == 0


def test_s3_slowdown_burst(aws):
    s3 = aws.client("s3", max_attempts=1)
    put_disk(aws, key="vm.vmdk", bucket="staging", data=b"x" * 10)
    aws.set_faults(s3_error="SlowDown", s3_error_count=3, s3_error_operations=["GetObject", "HeadObject"])
    s3.list_objects_v2(Bucket="staging")  # other operations are served during the burst
    for _ in range(3):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket="staging", Key="vm.vmdk")
        assert _error(exc) == ("SlowDown", 503)
    assert s3.get_object(Bucket="staging", Key="vm.vmdk")["Body"].read() == b"x" * 10


def test_run_instances_honours_the_client_token(aws):
    """AWS answers a repeated ClientToken with the first reservation: a worker that crashed after RunInstances and
    before saving the instance id must get the same instance back, not a second one."""
    aws.create_vmimport_role()
    ec2 = aws.client("ec2")
    task_id = ec2.import_image(DiskContainers=[{"Format": "VMDK", "UserBucket": put_disk(
        aws, key="token.vmdk", data=make_vmdk(capacity=64 * 1024 * 1024, label="token"))}])["ImportTaskId"]
    aws.advance(aws.settings()["import_duration"] + 1)
    image_id = describe_import(aws, task_id)["ImageId"]

    def launch(**extra):
        # t2: a Linux import is not ENA-enabled, which t3 requires
        return ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                                 **extra)["Instances"][0]["InstanceId"]

    first = launch(ClientToken="migration-7-launch")
    assert launch(ClientToken="migration-7-launch") == first
    other = launch(ClientToken="migration-8-launch")
    untokened = {launch(), launch()}
    assert other != first and len(untokened) == 2 and first not in untokened
