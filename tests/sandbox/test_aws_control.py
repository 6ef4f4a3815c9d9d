"""Sandbox clock, settings, reset, the HTTP control API, the standalone server and cross-process state."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sandbox.aws import connect
from sandbox.aws.testing import describe_import, make_vmdk, put_disk, start_import

pytestmark = pytest.mark.aws

REPO = Path(__file__).resolve().parents[2]


def test_clock_is_frozen_in_tests_and_moves_only_with_advance(aws):
    aws.create_vmimport_role()
    task_id = start_import(aws)
    assert aws.now() == 0.0 and aws.clock.speed == 0.0
    time.sleep(0.2)
    assert aws.now() == 0.0
    assert describe_import(aws, task_id)["StatusMessage"] == "pending"
    assert aws.advance(12.5) == 12.5
    assert aws.clock.now() == 12.5
    assert describe_import(aws, task_id)["StatusMessage"] == "validating"
    with pytest.raises(ValueError):
        aws.advance(-1)


def test_clock_speed_factor(aws):
    aws.create_vmimport_role()
    task_id = start_import(aws)
    aws.set_speed(400)  # 90 sandbox seconds in ~0.23 s
    deadline = time.monotonic() + 5
    while describe_import(aws, task_id)["Status"] != "completed":
        assert time.monotonic() < deadline, "the import did not finish at speed 400"
        time.sleep(0.05)
    assert aws.now() >= 90
    aws.set_speed(0)
    frozen = aws.now()
    time.sleep(0.1)
    assert aws.now() == frozen


def test_configure_durations_and_reset(aws):
    aws.create_vmimport_role()
    settings = aws.configure(import_duration=9, export_duration=6, cleanup_duration=1)
    assert settings["import_duration"] == 9.0
    task_id = start_import(aws)
    aws.advance(1.0)  # pending is 5/90 of the import (0.5 s here), validating the next 1 s
    assert describe_import(aws, task_id)["StatusMessage"] == "validating"
    aws.advance(8)
    assert describe_import(aws, task_id)["Status"] == "completed"
    with pytest.raises(ValueError):
        aws.configure(import_speed=3)

    aws.set_faults(s3_error="InternalError", s3_error_count=5)
    aws.reset()
    state = aws.state()
    assert state["clock"] == {"now": 0.0, "speed": 0.0}
    assert state["settings"]["import_duration"] == 90.0
    assert state["faults"]["s3_error"] is None
    ec2 = aws.client("ec2")
    assert ec2.describe_import_image_tasks()["ImportImageTasks"] == []
    assert aws.client("iam").list_roles()["Roles"] == []  # moto state is gone too


def test_moto_services_and_credentials(aws):
    assert (aws.region, aws.access_key, aws.secret_key) == ("us-east-1", "testing", "testing")
    assert aws.client("sts").get_caller_identity()["Account"] == aws.account_id == "123456789012"
    aws.client("iam").create_user(UserName="portal")
    aws.client("s3").create_bucket(Bucket="portal-bucket")
    assert aws.client("ec2").describe_regions()["Regions"]
    # moto's own reset route still works behind the middleware and drops extension tasks too
    aws.create_vmimport_role()
    start_import(aws)
    urllib.request.urlopen(urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", data=b"", method="POST"))
    assert aws.client("ec2").describe_import_image_tasks()["ImportImageTasks"] == []
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_http_control_api(aws):
    base = f"{aws.endpoint_url}/_sandbox"
    with urllib.request.urlopen(f"{base}/state") as resp:
        state = json.loads(resp.read())
    assert set(state) >= {"clock", "faults", "settings"} and state["vmie_installed"] is True

    def post(op: str, payload: dict) -> dict:
        req = urllib.request.Request(f"{base}/{op}", data=json.dumps(payload).encode(), method="POST")
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())

    assert post("advance", {"seconds": 42})["now"] == 42.0
    assert aws.now() == 42.0
    assert post("set_speed", {"speed": 0})["speed"] == 0.0
    assert post("configure", {"export_limit": 2})["export_limit"] == 2
    arn = post("create_vmimport_role", {})["arn"]
    assert arn.endswith(":role/vmimport")
    assert aws.client("iam").get_role(RoleName="vmimport")["Role"]["Arn"] == arn
    task_id = start_import(aws)
    tasks = post("tasks", {})
    assert [t["ImportTaskId"] for t in tasks["import_image"]] == [task_id]
    assert post("reset", {})["clock"]["now"] == 0.0

    for bad in ("nope", "advance"):
        req = urllib.request.Request(f"{base}/{bad}", data=b'{"seconds": "x"}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req)
        assert exc.value.code == 400
        assert "error" in json.loads(exc.value.read())


@pytest.mark.process
def test_other_processes_see_the_same_tasks(aws):
    """A worker process talking HTTP to the server sees (and drives) the same task state."""
    aws.create_vmimport_role()
    task_id = start_import(aws)
    aws.advance(20)
    script = textwrap.dedent(
        f"""
        import boto3, json
        from sandbox.aws import connect
        sb = connect({aws.endpoint_url!r})
        ec2 = sb.client("ec2")
        t = ec2.describe_import_image_tasks(ImportTaskIds=[{task_id!r}])["ImportImageTasks"][0]
        sb.advance(100)
        done = ec2.describe_import_image_tasks(ImportTaskIds=[{task_id!r}])["ImportImageTasks"][0]
        print(json.dumps([t["StatusMessage"], done["Status"], done["ImageId"]]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    message, status, image_id = json.loads(out.stdout)
    assert (message, status) == ("converting", "completed")
    assert describe_import(aws, task_id)["ImageId"] == image_id
    assert aws.now() == 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.process
def test_standalone_server_command(tmp_path):
    """``python -m sandbox.aws --port N`` serves moto + the extension; controlled over HTTP only."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.aws", "--port", str(port), "--speed", "0", "--vmimport-role", "--quiet",
         "--no-default-amis", "--import-limit", "3"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner, proc.stderr.read() if proc.poll() is not None else banner
        sb = connect(f"http://127.0.0.1:{port}")
        assert sb.settings()["import_limit"] == 3
        assert sb.clock.speed == 0.0
        disk = put_disk(sb, data=make_vmdk())
        task_id = sb.client("ec2").import_image(DiskContainers=[{"Format": "VMDK", "UserBucket": disk}])[
            "ImportTaskId"
        ]
        sb.advance(91)
        task = describe_import(sb, task_id)
        assert task["Status"] == "completed"
        sb.client("ec2").run_instances(ImageId=task["ImageId"], MinCount=1, MaxCount=1)
        sb.reset()
        # --vmimport-role: the role is re-created after a reset
        assert sb.client("iam").get_role(RoleName="vmimport")["Role"]["RoleName"] == "vmimport"
        assert sb.client("ec2").describe_import_image_tasks()["ImportImageTasks"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_extension_works_in_process_with_mock_aws():
    """install() also serves moto's decorator mode (no server, no middleware)."""
    import boto3
    from moto import mock_aws

    from sandbox.aws import vmie
    from sandbox.aws.control import reset_all

    vmie.install()
    vmie.install()  # idempotent
    try:
        with mock_aws():
            kw = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
            s3, ec2 = boto3.client("s3", **kw), boto3.client("ec2", **kw)
            vmie.create_vmimport_role()
            s3.create_bucket(Bucket="disks")
            s3.put_object(Bucket="disks", Key="vm.vmdk", Body=make_vmdk())
            task = ec2.import_image(
                DiskContainers=[{"Format": "VMDK", "UserBucket": {"S3Bucket": "disks", "S3Key": "vm.vmdk"}}]
            )
            assert task["Status"] == "active"
            assert ec2.describe_import_image_tasks()["ImportImageTasks"][0]["ImportTaskId"] == task["ImportTaskId"]
    finally:
        reset_all()
