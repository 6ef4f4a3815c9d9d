"""ImportImage / DescribeImportImageTasks / CancelImportTask / ImportSnapshot against the sandbox over HTTP."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from botocore.exceptions import ClientError

from sandbox.aws import diskfmt
from sandbox.aws.testing import describe_import, imported_image, make_vmdk, put_disk, start_import

pytestmark = pytest.mark.aws

ROLE_ERROR = "The service role {} provided does not exist or does not have sufficient permissions"


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def _container(user_bucket: dict, fmt: str = "VMDK") -> list[dict]:
    return [{"Format": fmt, "UserBucket": user_bucket}]


# ---------------------------------------------------------------------------------------------- role


def test_import_requires_vmimport_role(aws):
    ec2 = aws.client("ec2")
    disk = put_disk(aws)
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=_container(disk))
    assert _error(exc) == ("InvalidParameter", ROLE_ERROR.format("vmimport"))
    assert ec2.describe_import_image_tasks()["ImportImageTasks"] == []

    aws.create_vmimport_role()
    task = ec2.import_image(DiskContainers=_container(disk))
    assert task["ImportTaskId"].startswith("import-ami-")
    assert (task["Status"], task["StatusMessage"]) == ("active", "pending")


def test_import_role_name_and_trust_policy(aws):
    ec2, iam = aws.client("ec2"), aws.client("iam")
    disk = put_disk(aws)
    wrong_trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="vmimport", AssumeRolePolicyDocument=json.dumps(wrong_trust))
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=_container(disk))
    assert _error(exc) == ("InvalidParameter", ROLE_ERROR.format("vmimport"))

    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=_container(disk), RoleName="my-import-role")
    assert _error(exc) == ("InvalidParameter", ROLE_ERROR.format("my-import-role"))

    good_trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "vmie.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="my-import-role", AssumeRolePolicyDocument=json.dumps(good_trust))
    task = ec2.import_image(DiskContainers=_container(disk), RoleName="my-import-role")
    assert task["Status"] == "active"


# ------------------------------------------------------------------------------------- bucket / object


def test_import_bucket_must_exist(aws):
    aws.create_vmimport_role()
    with pytest.raises(ClientError) as exc:
        aws.client("ec2").import_image(DiskContainers=_container({"S3Bucket": "no-such-bucket", "S3Key": "vm.vmdk"}))
    assert _error(exc) == ("InvalidParameter", "S3 bucket does not exist: s3://no-such-bucket/vm.vmdk")


def test_import_bucket_must_be_in_the_same_region(aws):
    aws.create_vmimport_role()
    s3 = aws.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="eu-disks", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="eu-disks", Key="vm.vmdk", Body=make_vmdk())
    with pytest.raises(ClientError) as exc:
        aws.client("ec2").import_image(DiskContainers=_container({"S3Bucket": "eu-disks", "S3Key": "vm.vmdk"}))
    code, message = _error(exc)
    assert code == "InvalidParameter"
    assert message.startswith("The given S3 bucket is not local to the region")
    # the same bucket is fine for an import in its own region
    task = aws.client("ec2", region_name="eu-west-1").import_image(
        DiskContainers=_container({"S3Bucket": "eu-disks", "S3Key": "vm.vmdk"})
    )
    assert task["Status"] == "active"


def test_import_missing_object_ends_deleted(aws):
    aws.create_vmimport_role()
    disk = put_disk(aws)
    task_id = start_import(aws, {"S3Bucket": disk["S3Bucket"], "S3Key": "missing.vmdk"})
    aws.advance(10)  # mid "validating"
    task = describe_import(aws, task_id)
    assert task["Status"] == "deleting"
    assert task["StatusMessage"] == "ClientError: Disk validation failed [Invalid S3 source location]"
    aws.advance(5)
    task = describe_import(aws, task_id)
    assert task["Status"] == "deleted"
    assert task["StatusMessage"] == "ClientError: Disk validation failed [Invalid S3 source location]"
    assert "ImageId" not in task


def _truncated() -> bytes:
    return make_vmdk()[:-1024]


def _bad_grain() -> bytes:
    data = bytearray(make_vmdk())
    # first grain marker right after the descriptor: corrupt its deflate stream
    header, _ = diskfmt.read_vmdk_header(bytes(data))
    pos = header.overhead * 512 + 12
    data[pos : pos + 8] = b"\xff" * 8
    return bytes(data)


@pytest.mark.parametrize(
    "payload, message",
    [
        (lambda: diskfmt.make_monolithic_sparse_vmdk(64 << 20), diskfmt.MSG_UNSUPPORTED_VMDK),
        (lambda: b"this is not a disk image at all" * 100, diskfmt.MSG_UNSUPPORTED_VMDK),
        (lambda: b'# Disk DescriptorFile\ncreateType="monolithicFlat"\n', diskfmt.MSG_UNSUPPORTED_VMDK),
        (_truncated, "ClientError: Footers not identical"),
        (_bad_grain, "ClientError: Uncompressed data has invalid length"),
    ],
    ids=["monolithicSparse", "garbage", "descriptor-only", "truncated", "corrupt-grain"],
)
def test_import_rejects_non_stream_optimized_disks(aws, payload, message):
    aws.create_vmimport_role()
    task_id = start_import(aws, put_disk(aws, data=payload()))
    assert describe_import(aws, task_id)["Status"] == "active"  # accepted, fails while validating
    aws.advance(4)
    assert describe_import(aws, task_id)["StatusMessage"] == "pending"
    aws.advance(2)
    assert describe_import(aws, task_id)["StatusMessage"] == "validating"
    aws.advance(4)
    task = describe_import(aws, task_id)
    assert (task["Status"], task["StatusMessage"]) == ("deleting", message)
    aws.advance(aws.settings()["cleanup_duration"])
    task = describe_import(aws, task_id)
    assert (task["Status"], task["StatusMessage"]) == ("deleted", message)
    assert "ImageId" not in task and "Progress" not in task


# ------------------------------------------------------------------------------------------- success


def test_import_progresses_to_completed_ami_usable_by_run_instances(aws):
    aws.create_vmimport_role()
    ec2 = aws.client("ec2")
    disk = put_disk(aws)
    task = ec2.import_image(
        Description="web-01 from vCenter",
        DiskContainers=_container(disk),
        LicenseType="BYOL",
        Platform="Linux",
        TagSpecifications=[{"ResourceType": "import-image-task", "Tags": [{"Key": "job", "Value": "42"}]}],
    )
    task_id = task["ImportTaskId"]
    assert task["Progress"] == "0"
    assert task["Tags"] == [{"Key": "job", "Value": "42"}]
    assert task["SnapshotDetails"][0]["UserBucket"] == disk
    assert task["SnapshotDetails"][0]["Format"] == "VMDK"

    messages, progress = [], []
    for _ in range(95):
        t = describe_import(aws, task_id)
        if t["Status"] != "active":
            break
        if not messages or messages[-1] != t["StatusMessage"]:
            messages.append(t["StatusMessage"])
        progress.append(int(t["Progress"]))
        assert "ImageId" not in t
        aws.advance(1)
    assert messages == [
        "pending", "validating", "validated", "converting", "updating", "booting", "booted", "preparing ami",
    ]
    assert progress == sorted(progress) and progress[0] == 0 and 76 <= progress[-1] <= 85
    assert 88 <= aws.now() <= 91  # default import: 90 sandbox seconds

    t = describe_import(aws, task_id)
    assert t["Status"] == "completed"
    assert "StatusMessage" not in t and "Progress" not in t
    assert t["Tags"] == [{"Key": "job", "Value": "42"}]
    assert t["Description"] == "web-01 from vCenter"
    assert (t["Platform"], t["Architecture"], t["LicenseType"]) == ("Linux", "x86_64", "BYOL")
    detail = t["SnapshotDetails"][0]
    assert detail["Status"] == "completed"
    assert detail["DiskImageSize"] == float(len(make_vmdk()))
    image_id = t["ImageId"]

    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["State"] == "available"
    assert image["Name"] == task_id
    assert ec2.describe_snapshots(SnapshotIds=[detail["SnapshotId"]])["Snapshots"][0]["SnapshotId"] == detail[
        "SnapshotId"
    ]
    instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro")["Instances"][0]
    assert instance["ImageId"] == image_id

    # the AMI check is real: an unknown image is refused
    with pytest.raises(ClientError) as exc:
        ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1)
    assert _error(exc)[0] == "InvalidAMIID.NotFound"


def test_import_of_an_ova(aws):
    aws.create_vmimport_role()
    vmdk = make_vmdk(label="ova disk")
    ova = diskfmt.make_ova("web-01", vmdk, 64 << 20)
    task_id = start_import(aws, put_disk(aws, key="web-01.ova", data=ova), fmt="OVA")
    aws.advance(91)
    task = describe_import(aws, task_id)
    assert task["Status"] == "completed", task
    assert task["SnapshotDetails"][0]["Format"] == "OVA"

    # an OVA without an .ovf descriptor is refused
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("disk.vmdk")
        info.size = len(vmdk)
        tar.addfile(info, io.BytesIO(vmdk))
    bad = start_import(aws, put_disk(aws, key="bad.ova", data=buf.getvalue()), fmt="OVA")
    aws.advance(91)
    task = describe_import(aws, bad)
    assert (task["Status"], task["StatusMessage"]) == ("deleted", diskfmt.MSG_UNSUPPORTED_OVA)


def test_import_parameter_validation(aws):
    aws.create_vmimport_role()
    ec2 = aws.client("ec2")
    disk = put_disk(aws)
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=[])
    assert _error(exc)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=_container(disk, fmt="QCOW2"))
    assert _error(exc)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        ec2.import_image(
            DiskContainers=_container(disk),
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "a", "Value": "b"}]}],
        )
    assert _error(exc) == (
        "InvalidParameterValue", "'image' is not a valid taggable resource type for this operation."
    )
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=_container(disk), DryRun=True)
    assert _error(exc)[0] == "DryRunOperation"
    assert ec2.describe_import_image_tasks()["ImportImageTasks"] == []


# ----------------------------------------------------------------------------------------- idempotency


def test_import_client_token_idempotency(aws):
    aws.create_vmimport_role()
    ec2 = aws.client("ec2")
    disk = put_disk(aws)
    first = ec2.import_image(DiskContainers=_container(disk), ClientToken="job-7", Description="vm7")
    aws.advance(30)
    again = ec2.import_image(DiskContainers=_container(disk), ClientToken="job-7", Description="vm7")
    assert again["ImportTaskId"] == first["ImportTaskId"]
    assert again["StatusMessage"] == "converting"  # the existing task, as it is now
    assert len(ec2.describe_import_image_tasks()["ImportImageTasks"]) == 1

    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=_container(disk), ClientToken="job-7", Description="another vm")
    assert _error(exc) == (
        "IdempotentParameterMismatch",
        "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).",
    )
    other = ec2.import_image(DiskContainers=_container(disk), ClientToken="job-8", Description="vm7")
    assert other["ImportTaskId"] != first["ImportTaskId"]


# ---------------------------------------------------------------------------------------------- limit


def test_import_limit_five_active_per_region(aws):
    aws.create_vmimport_role()
    ec2 = aws.client("ec2")
    disk = put_disk(aws)
    ids = [ec2.import_image(DiskContainers=_container(disk))["ImportTaskId"] for _ in range(5)]
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=_container(disk))
    code, message = _error(exc)
    assert code == "ResourceLimitExceeded"
    assert "limit of 5 active import image tasks" in message

    # another region has its own quota
    aws.client("s3").create_bucket(Bucket="west-disks", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    aws.client("s3").put_object(Bucket="west-disks", Key="vm.vmdk", Body=make_vmdk())
    aws.client("ec2", region_name="us-west-2").import_image(
        DiskContainers=_container({"S3Bucket": "west-disks", "S3Key": "vm.vmdk"})
    )

    # a cancelled task frees a slot immediately (it is "deleting", no longer active)
    ec2.cancel_import_task(ImportTaskId=ids[0])
    ec2.import_image(DiskContainers=_container(disk))
    with pytest.raises(ClientError):
        ec2.import_image(DiskContainers=_container(disk))
    # completed tasks free theirs
    aws.advance(91)
    for _ in range(5):
        ec2.import_image(DiskContainers=_container(disk))

    aws.configure(import_limit=6)
    ec2.import_image(DiskContainers=_container(disk))
    with pytest.raises(ClientError) as exc:
        ec2.import_image(DiskContainers=_container(disk))
    assert "limit of 6 active import image tasks" in _error(exc)[1]


# ------------------------------------------------------------------------------------------- describe


def test_describe_import_tasks_ids_filters_and_unknown_ids(aws):
    aws.create_vmimport_role()
    ec2 = aws.client("ec2")
    done = start_import(aws)
    aws.advance(91)
    active = start_import(aws)
    cancelled = start_import(aws)
    ec2.cancel_import_task(ImportTaskId=cancelled)

    def ids(**kw):
        return [t["ImportTaskId"] for t in ec2.describe_import_image_tasks(**kw)["ImportImageTasks"]]

    assert ids() == [done, active, cancelled]
    assert ids(ImportTaskIds=[active, done]) == [active, done]
    assert ids(Filters=[{"Name": "task-state", "Values": ["completed"]}]) == [done]
    assert ids(Filters=[{"Name": "task-state", "Values": ["active", "deleting"]}]) == [active, cancelled]
    assert ids(ImportTaskIds=[done], Filters=[{"Name": "task-state", "Values": ["active"]}]) == []

    page = ec2.describe_import_image_tasks(MaxResults=2)
    assert [t["ImportTaskId"] for t in page["ImportImageTasks"]] == [done, active]
    rest = ec2.describe_import_image_tasks(MaxResults=2, NextToken=page["NextToken"])
    assert [t["ImportTaskId"] for t in rest["ImportImageTasks"]] == [cancelled]
    assert "NextToken" not in rest

    with pytest.raises(ClientError) as exc:
        ec2.describe_import_image_tasks(ImportTaskIds=["import-ami-0123456789abcdef0"])
    assert _error(exc)[0] == "InvalidConversionTaskId.Malformed"
    with pytest.raises(ClientError) as exc:
        ec2.describe_import_image_tasks(ImportTaskIds=["bogus"])
    assert _error(exc)[0] == "InvalidConversionTaskId.Malformed"
    with pytest.raises(ClientError) as exc:
        ec2.describe_import_image_tasks(Filters=[{"Name": "colour", "Values": ["red"]}])
    assert _error(exc) == ("InvalidParameterValue", "The filter 'colour' is invalid.")


# --------------------------------------------------------------------------------------------- cancel


def test_cancel_import_task(aws):
    aws.create_vmimport_role()
    ec2 = aws.client("ec2")
    task_id = start_import(aws)
    aws.advance(30)
    result = ec2.cancel_import_task(ImportTaskId=task_id, CancelReason="operator changed their mind")
    assert (result["ImportTaskId"], result["PreviousState"], result["State"]) == (task_id, "active", "deleting")
    task = describe_import(aws, task_id)
    assert (task["Status"], task["StatusMessage"]) == ("deleting", "User initiated")

    with pytest.raises(ClientError) as exc:  # already being deleted
        ec2.cancel_import_task(ImportTaskId=task_id)
    assert _error(exc)[0] == "IncorrectState"

    aws.advance(5)
    task = describe_import(aws, task_id)
    assert (task["Status"], task["StatusMessage"]) == ("deleted", "User initiated")
    aws.advance(100)  # never completes
    assert describe_import(aws, task_id)["Status"] == "deleted"
    assert ec2.describe_images(Owners=["self"])["Images"] == []

    with pytest.raises(ClientError) as exc:
        ec2.cancel_import_task(ImportTaskId="import-ami-0123456789abcdef0")
    assert _error(exc)[0] == "InvalidConversionTaskId.Malformed"


def test_cancel_completed_import_fails(aws):
    image_id = imported_image(aws)
    ec2 = aws.client("ec2")
    task = ec2.describe_import_image_tasks()["ImportImageTasks"][0]
    assert task["ImageId"] == image_id
    with pytest.raises(ClientError) as exc:
        ec2.cancel_import_task(ImportTaskId=task["ImportTaskId"])
    assert _error(exc) == (
        "IncorrectState",
        f"The import task {task['ImportTaskId']} cannot be cancelled because it is in the 'completed' state.",
    )
    assert describe_import(aws, task["ImportTaskId"])["Status"] == "completed"


# ------------------------------------------------------------------------------------------- snapshot


def test_import_snapshot_completes_into_a_snapshot(aws):
    aws.create_vmimport_role()
    ec2 = aws.client("ec2")
    disk = put_disk(aws)
    task = ec2.import_snapshot(
        Description="data disk",
        DiskContainer={"Format": "VMDK", "UserBucket": disk},
        TagSpecifications=[{"ResourceType": "import-snapshot-task", "Tags": [{"Key": "k", "Value": "v"}]}],
    )
    task_id = task["ImportTaskId"]
    assert task_id.startswith("import-snap-")
    assert task["SnapshotTaskDetail"]["Status"] == "active"
    aws.advance(45)
    described = ec2.describe_import_snapshot_tasks(ImportTaskIds=[task_id])["ImportSnapshotTasks"][0]
    assert described["SnapshotTaskDetail"]["Status"] == "completed"
    assert described["Tags"] == [{"Key": "k", "Value": "v"}]
    snapshot_id = described["SnapshotTaskDetail"]["SnapshotId"]
    snap = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert snap["Description"] == "data disk"
    # botocore's own waiter understands the result
    ec2.get_waiter("snapshot_imported").wait(ImportTaskIds=[task_id], WaiterConfig={"Delay": 0, "MaxAttempts": 2})

    bad = ec2.import_snapshot(DiskContainer={"Format": "VMDK", "UserBucket": put_disk(aws, "x.vmdk", b"junk" * 200)})
    aws.advance(60)
    detail = ec2.describe_import_snapshot_tasks(ImportTaskIds=[bad["ImportTaskId"]])["ImportSnapshotTasks"][0][
        "SnapshotTaskDetail"
    ]
    assert (detail["Status"], detail["StatusMessage"]) == ("deleted", diskfmt.MSG_UNSUPPORTED_VMDK)
