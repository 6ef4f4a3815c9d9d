"""CreateInstanceExportTask / DescribeExportTasks / CancelExportTask against the sandbox over HTTP."""

from __future__ import annotations

import io
import subprocess
import tarfile
from xml.etree import ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from sandbox.aws import diskfmt
from sandbox.aws.testing import describe_export, ensure_export_bucket, imported_image, imported_instances

pytestmark = pytest.mark.aws

OVF_NS = "{http://schemas.dmtf.org/ovf/envelope/1}"


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def _export(aws, instance_id: str, bucket: str = "exports", prefix: str = "vms/", **kwargs) -> dict:
    ensure_export_bucket(aws, bucket)  # VM Export refuses a bucket that grants its account nothing
    spec = {"DiskImageFormat": "VMDK", "ContainerFormat": "ova", "S3Bucket": bucket, "S3Prefix": prefix}
    spec.update(kwargs.pop("spec", {}))
    return aws.client("ec2").create_instance_export_task(
        InstanceId=instance_id, TargetEnvironment="vmware", ExportToS3Task=spec, **kwargs
    )["ExportTask"]


def _uploads(aws, bucket: str = "exports") -> list[str]:
    return [u["Key"] for u in aws.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def _objects(aws, bucket: str = "exports") -> list[str]:
    return [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_only_imported_instances_can_be_exported(aws):
    ec2 = aws.client("ec2")
    image_id = ec2.register_image(Name="stock-image")["ImageId"]  # an AMI that did not come from ImportImage
    instance_id = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as exc:
        _export(aws, instance_id)
    assert _error(exc) == ("NotExportable", "Only imported instances can be exported.")

    with pytest.raises(ClientError) as exc:
        _export(aws, "i-0123456789abcdef0")
    assert _error(exc)[0] == "InvalidInstanceID.NotFound"


def test_export_bucket_must_exist(aws):
    (instance_id,) = imported_instances(aws)
    with pytest.raises(ClientError) as exc:
        aws.client("ec2").create_instance_export_task(
            InstanceId=instance_id,
            TargetEnvironment="vmware",
            ExportToS3Task={"DiskImageFormat": "VMDK", "ContainerFormat": "ova", "S3Bucket": "no-such-bucket"},
        )
    assert _error(exc) == ("InvalidParameter", "S3 bucket does not exist: s3://no-such-bucket/")
    assert aws.client("ec2").describe_export_tasks()["ExportTasks"] == []


def test_export_completes_with_a_valid_ova(aws):
    data = diskfmt.sample_disk_data("exported web-01", 300 * 1024)
    vmdk = diskfmt.make_stream_optimized_vmdk(2 << 30, data)
    image_id = imported_image(aws, data=vmdk)
    (instance_id,) = imported_instances(aws, image_id=image_id)
    task = _export(
        aws, instance_id, Description="back to vCenter",
        TagSpecifications=[{"ResourceType": "export-instance-task", "Tags": [{"Key": "job", "Value": "9"}]}],
    )
    task_id = task["ExportTaskId"]
    assert task_id.startswith("export-i-")
    assert task["State"] == "active"
    assert task["ExportToS3Task"] == {
        "ContainerFormat": "ova", "DiskImageFormat": "VMDK", "S3Bucket": "exports", "S3Key": f"vms/{task_id}.ova",
    }
    assert task["InstanceExportDetails"] == {"InstanceId": instance_id, "TargetEnvironment": "vmware"}
    assert task["Tags"] == [{"Key": "job", "Value": "9"}]
    assert task["Description"] == "back to vCenter"

    seen = []
    for _ in range(62):
        t = describe_export(aws, task_id)
        if t["State"] != "active":
            break
        if not seen or seen[-1] != t["StatusMessage"]:
            seen.append(t["StatusMessage"])
            assert _objects(aws) == []  # nothing visible before completion
        aws.advance(1)
    assert seen == ["pending", "converting", "uploading", "finalizing"]
    t = describe_export(aws, task_id)
    assert t["State"] == "completed"
    assert _objects(aws) == [f"vms/{task_id}.ova"]
    assert _uploads(aws) == []
    aws.client("ec2").get_waiter("export_task_completed").wait(ExportTaskIds=[task_id])

    ova = aws.client("s3").get_object(Bucket="exports", Key=f"vms/{task_id}.ova")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(ova), mode="r:") as tar:
        names = tar.getnames()
        assert names[0] == f"{task_id}.ovf"
        assert names[1].endswith(".vmdk")
        ovf = ET.fromstring(tar.extractfile(names[0]).read())
        disk_vmdk = tar.extractfile(names[1]).read()
        manifest = tar.extractfile(names[2]).read().decode()
    assert ovf.tag == f"{OVF_NS}Envelope"
    disk = ovf.find(f"{OVF_NS}DiskSection/{OVF_NS}Disk")
    assert disk.get(f"{OVF_NS}format") == diskfmt.STREAM_OPTIMIZED_OVF_FORMAT
    assert disk.get(f"{OVF_NS}capacity") == str(2 << 30)
    ref = ovf.find(f"{OVF_NS}References/{OVF_NS}File")
    assert ref.get(f"{OVF_NS}href") == names[1] and ref.get(f"{OVF_NS}size") == str(len(disk_vmdk))
    assert ovf.find(f"{OVF_NS}VirtualSystem").get(f"{OVF_NS}id") == task_id
    assert names[1] in manifest

    assert disk_vmdk[:4] == b"KDMV"
    header, create_type = diskfmt.read_vmdk_header(disk_vmdk)
    assert (header.version, create_type) == (3, "streamOptimized")
    assert header.flags & diskfmt.FLAG_COMPRESSED and header.flags & diskfmt.FLAG_MARKERS
    assert diskfmt.read_vmdk_data(disk_vmdk, len(data)) == data  # the imported disk's content came back


def test_exported_vmdk_is_readable_by_qemu_img(aws, tmp_path):
    data = diskfmt.sample_disk_data("qemu check", 200 * 1024)
    (instance_id,) = imported_instances(aws, image_id=imported_image(aws, data=diskfmt.make_stream_optimized_vmdk(
        8 << 20, data)))
    task = _export(aws, instance_id)
    aws.advance(61)
    ova = aws.client("s3").get_object(Bucket="exports", Key=task["ExportToS3Task"]["S3Key"])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(ova)) as tar:
        vmdk_name = next(n for n in tar.getnames() if n.endswith(".vmdk"))
        (tmp_path / "disk.vmdk").write_bytes(tar.extractfile(vmdk_name).read())
    info = subprocess.run(["qemu-img", "info", str(tmp_path / "disk.vmdk")], capture_output=True, text=True)
    assert "create type: streamOptimized" in info.stdout
    subprocess.run(["qemu-img", "check", str(tmp_path / "disk.vmdk")], check=True, capture_output=True)
    subprocess.run(
        ["qemu-img", "convert", "-O", "raw", str(tmp_path / "disk.vmdk"), str(tmp_path / "disk.raw")], check=True
    )
    raw = (tmp_path / "disk.raw").read_bytes()
    assert len(raw) == 8 << 20 and raw[: len(data)] == data and raw[len(data):].count(0) == len(raw) - len(data)


def test_export_without_container_writes_a_vmdk(aws):
    (instance_id,) = imported_instances(aws)
    ensure_export_bucket(aws, "exports")
    task = aws.client("ec2").create_instance_export_task(
        InstanceId=instance_id,
        TargetEnvironment="vmware",
        ExportToS3Task={"DiskImageFormat": "VMDK", "S3Bucket": "exports"},
    )["ExportTask"]
    assert "ContainerFormat" not in task["ExportToS3Task"]
    assert task["ExportToS3Task"]["S3Key"] == f"{task['ExportTaskId']}.vmdk"
    aws.advance(61)
    body = aws.client("s3").get_object(Bucket="exports", Key=task["ExportToS3Task"]["S3Key"])["Body"].read()
    assert diskfmt.is_stream_optimized(body)


def test_one_active_export_per_instance(aws):
    first, second = imported_instances(aws, count=2)
    task = _export(aws, first)
    with pytest.raises(ClientError) as exc:
        _export(aws, first)
    assert _error(exc) == (
        "IncorrectState", f"Instance {first} already has an export task in progress ({task['ExportTaskId']})."
    )
    _export(aws, second)  # other instances are fine
    aws.advance(61)
    assert describe_export(aws, task["ExportTaskId"])["State"] == "completed"
    again = _export(aws, first)  # allowed again once the previous one finished
    assert again["ExportTaskId"] != task["ExportTaskId"]


def test_export_limit_five_per_region(aws):
    instances = imported_instances(aws, count=6)
    tasks = [_export(aws, i)["ExportTaskId"] for i in instances[:5]]
    with pytest.raises(ClientError) as exc:
        _export(aws, instances[5])
    code, message = _error(exc)
    assert code == "ResourceLimitExceeded"
    assert "limit of 5 export tasks" in message
    aws.client("ec2").cancel_export_task(ExportTaskId=tasks[0])
    with pytest.raises(ClientError):  # still "cancelling": counts as in progress
        _export(aws, instances[5])
    aws.advance(aws.settings()["cleanup_duration"])
    _export(aws, instances[5])


def test_cancel_export_removes_partial_objects(aws):
    (instance_id,) = imported_instances(aws)
    task = _export(aws, instance_id)
    task_id, key = task["ExportTaskId"], task["ExportToS3Task"]["S3Key"]
    aws.advance(35)
    assert describe_export(aws, task_id)["StatusMessage"] == "uploading"
    assert _uploads(aws) == [key]  # the partial object: an unfinished multipart upload of the final key

    assert aws.client("ec2").cancel_export_task(ExportTaskId=task_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    t = describe_export(aws, task_id)
    assert (t["State"], t["StatusMessage"]) == ("cancelling", "User initiated")
    with pytest.raises(ClientError) as exc:
        aws.client("ec2").cancel_export_task(ExportTaskId=task_id)
    assert _error(exc) == ("IncorrectState", f"Export task {task_id} is already cancelling.")

    aws.advance(5)
    t = describe_export(aws, task_id)
    assert (t["State"], t["StatusMessage"]) == ("cancelled", "User initiated")
    assert _uploads(aws) == [] and _objects(aws) == []
    aws.advance(100)  # and it never completes
    assert describe_export(aws, task_id)["State"] == "cancelled"
    assert _objects(aws) == []
    aws.client("ec2").get_waiter("export_task_cancelled").wait(ExportTaskIds=[task_id])


def test_cancel_completed_or_finalizing_export_fails(aws):
    first, second = imported_instances(aws, count=2)
    done = _export(aws, first)["ExportTaskId"]
    aws.advance(61)
    with pytest.raises(ClientError) as exc:
        aws.client("ec2").cancel_export_task(ExportTaskId=done)
    assert _error(exc) == ("IncorrectState", f"Export task {done} is already completed and cannot be cancelled.")
    assert describe_export(aws, done)["State"] == "completed"

    late = _export(aws, second)["ExportTaskId"]
    aws.advance(55)  # "finalizing": transferring the final image
    with pytest.raises(ClientError) as exc:
        aws.client("ec2").cancel_export_task(ExportTaskId=late)
    assert _error(exc)[0] == "IncorrectState"
    assert "final disk image" in _error(exc)[1]
    aws.advance(10)
    assert describe_export(aws, late)["State"] == "completed"

    with pytest.raises(ClientError) as exc:
        aws.client("ec2").cancel_export_task(ExportTaskId="export-i-0123456789abcdef0")
    assert _error(exc)[0] == "InvalidExportTaskID.NotFound"


def test_describe_export_tasks_ids_and_filters(aws):
    first, second = imported_instances(aws, count=2)
    a = _export(aws, first)["ExportTaskId"]
    aws.advance(61)
    b = _export(aws, second)["ExportTaskId"]
    ec2 = aws.client("ec2")

    def ids(**kw):
        return [t["ExportTaskId"] for t in ec2.describe_export_tasks(**kw)["ExportTasks"]]

    assert ids() == [a, b]
    assert ids(ExportTaskIds=[b]) == [b]
    assert ids(Filters=[{"Name": "state", "Values": ["completed"]}]) == [a]
    assert ids(Filters=[{"Name": "instance-id", "Values": [second]}]) == [b]
    with pytest.raises(ClientError) as exc:
        ec2.describe_export_tasks(ExportTaskIds=["export-i-0123456789abcdef0"])
    assert _error(exc) == (
        "InvalidExportTaskID.NotFound", "The export task ID 'export-i-0123456789abcdef0' does not exist"
    )


def test_export_parameter_validation(aws):
    (instance_id,) = imported_instances(aws)
    ensure_export_bucket(aws, "exports")
    ec2 = aws.client("ec2")
    with pytest.raises(ClientError) as exc:
        ec2.create_instance_export_task(
            InstanceId=instance_id, TargetEnvironment="vmware",
            ExportToS3Task={"DiskImageFormat": "VHD", "S3Bucket": "exports"},
        )
    assert _error(exc)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as exc:
        ec2.create_instance_export_task(
            InstanceId=instance_id, TargetEnvironment="vmware", Description="x" * 256,
            ExportToS3Task={"DiskImageFormat": "VMDK", "S3Bucket": "exports"},
        )
    assert _error(exc)[0] == "InvalidParameter"
    assert ec2.describe_export_tasks()["ExportTasks"] == []
