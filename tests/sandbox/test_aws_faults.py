"""Fault switches: S3 5xx / throttling, import ending deleted, export failing; in-process and over HTTP."""

from __future__ import annotations

import json
import urllib.request

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from sandbox.aws import connect, diskfmt
from sandbox.aws.testing import (
    describe_export,
    describe_import,
    ensure_export_bucket,
    imported_instances,
    put_disk,
    start_import,
)

pytestmark = pytest.mark.aws


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_s3_internal_error_on_next_n_requests(aws):
    s3 = aws.client("s3", max_attempts=1)
    s3.create_bucket(Bucket="disks")
    faults = aws.set_faults(s3_error="InternalError", s3_error_count=2)
    assert (faults["s3_error"], faults["s3_error_count"]) == ("InternalError", 2)
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket="disks", Key="a", Body=b"x")
        assert _error(exc) == ("InternalError", 500)
    s3.put_object(Bucket="disks", Key="a", Body=b"x")  # third request goes through
    assert s3.get_object(Bucket="disks", Key="a")["Body"].read() == b"x"
    state = aws.faults()
    assert state["s3_error_count"] == 0 and state["injected"]["s3"] == 2


def test_s3_faults_do_not_touch_other_services(aws):
    aws.set_faults(s3_error="InternalError", s3_error_count=-1)
    aws.client("ec2", max_attempts=1).describe_instances()
    aws.client("iam", max_attempts=1).list_roles()
    with pytest.raises(ClientError) as exc:
        aws.client("s3", max_attempts=1).list_buckets()
    assert _error(exc) == ("InternalError", 500)
    aws.clear_faults()
    aws.client("s3", max_attempts=1).list_buckets()


def test_s3_slowdown_only_for_upload_part_and_boto3_retries(aws):
    s3 = aws.client("s3", max_attempts=1)
    s3.create_bucket(Bucket="disks")
    aws.set_faults(s3_error="SlowDown", s3_error_count=1, s3_error_operations=["UploadPart"])
    upload = s3.create_multipart_upload(Bucket="disks", Key="big.vmdk")  # not UploadPart: served
    s3.put_object(Bucket="disks", Key="small", Body=b"ok")
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="disks", Key="big.vmdk", UploadId=upload["UploadId"], PartNumber=1, Body=b"a" * 1024)
    assert _error(exc) == ("SlowDown", 503)
    part = s3.upload_part(Bucket="disks", Key="big.vmdk", UploadId=upload["UploadId"], PartNumber=1, Body=b"a" * 1024)
    s3.complete_multipart_upload(
        Bucket="disks", Key="big.vmdk", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )

    # with retries (botocore standard mode), throttling on two parts is absorbed by the transfer manager
    aws.set_faults(s3_error="SlowDown", s3_error_count=2, s3_error_operations=["UploadPart"])
    retrying = aws.client("s3", max_attempts=4)
    body = bytes(range(256)) * (24 * 1024)  # 6 MiB -> 2 parts of 5 MiB max
    retrying.upload_fileobj(
        __import__("io").BytesIO(body), "disks", "retried.vmdk",
        Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024,
                              max_concurrency=1),
    )
    assert retrying.get_object(Bucket="disks", Key="retried.vmdk")["Body"].read() == body
    assert aws.faults()["injected"]["s3"] == 3


def test_faults_over_http_from_another_client(aws):
    remote = connect(aws.endpoint_url)  # what a portal worker in another process would use
    s3 = aws.client("s3", max_attempts=1)
    s3.create_bucket(Bucket="disks")
    remote.set_faults(s3_error="ServiceUnavailable", s3_error_count=1, s3_error_operations=["GetObject"])
    s3.put_object(Bucket="disks", Key="k", Body=b"v")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="disks", Key="k")
    assert _error(exc) == ("ServiceUnavailable", 503)
    assert remote.faults()["injected"]["s3"] == 1

    # raw HTTP, no Python helper: POST /_sandbox/set_faults with a JSON body
    req = urllib.request.Request(
        f"{aws.endpoint_url}/_sandbox/set_faults",
        data=json.dumps({"s3_error": "InternalError", "s3_error_count": 1}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as resp:
        assert json.loads(resp.read())["s3_error"] == "InternalError"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket="disks", Key="k")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with urllib.request.urlopen(urllib.request.Request(f"{aws.endpoint_url}/_sandbox/clear_faults", data=b"{}")):
        pass
    assert s3.get_object(Bucket="disks", Key="k")["Body"].read() == b"v"

    with pytest.raises(ValueError, match="unknown fault switch"):
        remote.set_faults(s3_errors="InternalError")


def test_import_failure_fault_next_task(aws):
    aws.create_vmimport_role()
    aws.set_faults(import_failure="ClientError: Unsupported file format", import_failure_stage="converting")
    failing = start_import(aws)
    healthy = start_import(aws)  # count defaults to 1: only the next task fails
    aws.advance(20)
    assert describe_import(aws, failing)["StatusMessage"] == "converting"
    aws.advance(13)  # middle of "converting" (20..45 s)
    task = describe_import(aws, failing)
    assert (task["Status"], task["StatusMessage"]) == ("deleting", "ClientError: Unsupported file format")
    aws.advance(60)
    task = describe_import(aws, failing)
    assert (task["Status"], task["StatusMessage"]) == ("deleted", "ClientError: Unsupported file format")
    assert "ImageId" not in task
    assert describe_import(aws, healthy)["Status"] == "completed"
    assert aws.faults()["injected"]["import"] == 1


def test_import_failure_fault_all_tasks(aws):
    aws.create_vmimport_role()
    remote = connect(aws.endpoint_url)
    remote.set_faults(import_failure="ClientError: Footers not identical", import_failure_count=-1,
                      import_failure_stage="pending")
    ids = [start_import(aws, put_disk(aws, key=f"vm{i}.vmdk")) for i in range(3)]
    aws.advance(10)
    for task_id in ids:
        task = describe_import(aws, task_id)
        assert (task["Status"], task["StatusMessage"]) == ("deleted", "ClientError: Footers not identical")
    remote.clear_faults()
    ok = start_import(aws)
    aws.advance(91)
    assert describe_import(aws, ok)["Status"] == "completed"


def test_export_failure_fault(aws):
    first, second = imported_instances(aws, count=2)
    s3 = aws.client("s3")
    ensure_export_bucket(aws, "exports")
    aws.set_faults(export_failure="ClientError: Task expired and automatically canceled")
    spec = {"DiskImageFormat": "VMDK", "ContainerFormat": "ova", "S3Bucket": "exports"}
    ec2 = aws.client("ec2")
    failing = ec2.create_instance_export_task(InstanceId=first, TargetEnvironment="vmware", ExportToS3Task=spec)
    healthy = ec2.create_instance_export_task(InstanceId=second, TargetEnvironment="vmware", ExportToS3Task=spec)
    failing_id = failing["ExportTask"]["ExportTaskId"]
    aws.advance(40)  # uploading: partial upload exists
    assert describe_export(aws, failing_id)["StatusMessage"] == "uploading"
    assert len(s3.list_multipart_uploads(Bucket="exports").get("Uploads", [])) == 2
    aws.advance(21)
    task = describe_export(aws, failing_id)
    assert (task["State"], task["StatusMessage"]) == (
        "cancelled", "ClientError: Task expired and automatically canceled"
    )
    assert describe_export(aws, healthy["ExportTask"]["ExportTaskId"])["State"] == "completed"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="exports")["Contents"]]
    assert keys == [healthy["ExportTask"]["ExportToS3Task"]["S3Key"]]  # the failed export left nothing behind
    assert s3.list_multipart_uploads(Bucket="exports").get("Uploads", []) == []


def test_fault_switch_validation(aws):
    with pytest.raises(ValueError):
        aws.set_faults(s3_error="Teapot")
    with pytest.raises(ValueError):
        aws.set_faults(import_failure_stage="nowhere")
    armed = aws.set_faults(import_failure=True, export_failure=True)
    assert armed["import_failure"].startswith("ClientError: ") and armed["import_failure_count"] == 1
    assert armed["export_failure"].startswith("ClientError: ") and armed["export_failure_count"] == 1
    cleared = aws.clear_faults()
    assert cleared["import_failure"] is None and cleared["s3_error"] is None


def test_unsupported_disk_is_reported_like_the_fault(aws):
    """The injected message and a real validation failure look the same to the client."""
    aws.create_vmimport_role()
    real = start_import(aws, put_disk(aws, key="sparse.vmdk", data=diskfmt.make_monolithic_sparse_vmdk(1 << 20)))
    aws.set_faults(import_failure=True, import_failure_stage="validating")
    injected = start_import(aws)
    aws.advance(20)
    assert describe_import(aws, real)["StatusMessage"] == describe_import(aws, injected)["StatusMessage"]
