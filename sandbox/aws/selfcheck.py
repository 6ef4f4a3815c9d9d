"""End-to-end self-check of an AWS sandbox: VMDK -> S3 -> ImportImage -> AMI -> instance -> export OVA.

``run(sandbox, vmdk_path)`` is called by the lead's combined check script with an
:class:`~sandbox.aws.server.AWSSandbox` (in-process) or :class:`~sandbox.aws.server.RemoteAWSSandbox`.
It returns human-readable lines and raises :class:`SelfCheckError` (carrying the lines so far) on failure.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
import uuid
from typing import Any
from xml.etree import ElementTree as ET

from . import diskfmt
from .exportaccounts import export_canonical_id


class SelfCheckError(RuntimeError):
    def __init__(self, message: str, lines: list[str]):
        super().__init__(message + "\n" + "\n".join(lines))
        self.lines = lines


def _wait(sandbox: Any, fast: bool, probe: Any, done: Any, budget: float, step: float) -> Any:
    """Poll ``probe()`` until ``done(result)`` or ``budget`` sandbox seconds passed; advance the sandbox clock
    (fast) or sleep in real time (the sandbox clock must then be running)."""
    start = sandbox.now()
    deadline = time.monotonic() + 900  # wall-clock safety net
    while True:
        result = probe()
        if done(result) or sandbox.now() - start > budget or time.monotonic() > deadline:
            return result
        if fast:
            sandbox.advance(step)
        else:
            time.sleep(1.0)


def run(sandbox: Any, vmdk_path: str, fast: bool = True, keep: bool = True) -> list[str]:
    """Upload ``vmdk_path`` (a streamOptimized VMDK), import it to completion, launch an instance from the
    AMI, export the instance to an OVA and verify the OVA. ``fast``: drive the sandbox clock with
    ``advance()`` instead of waiting in real time (note: this fast-forwards every task on that sandbox).
    ``keep=False`` deletes the buckets' objects, the instance and the AMI afterwards.
    """
    lines: list[str] = []

    def ok(msg: str) -> None:
        lines.append(f"OK   {msg}")

    def fail(msg: str) -> None:
        lines.append(f"FAIL {msg}")
        raise SelfCheckError(msg, lines)

    settings = sandbox.settings()
    if sandbox.clock.speed == 0:
        fast = True  # a frozen clock only moves with advance()
    s3 = sandbox.client("s3")
    ec2 = sandbox.client("ec2")
    suffix = uuid.uuid4().hex[:8]
    bucket, export_bucket = f"selfcheck-import-{suffix}", f"selfcheck-export-{suffix}"
    key = f"disks/{os.path.basename(vmdk_path)}"

    with open(vmdk_path, "rb") as fh:
        source = fh.read()
    if not diskfmt.is_stream_optimized(source):
        fail(f"{vmdk_path} is not a streamOptimized VMDK")
    source_info = diskfmt.inspect_vmdk(source, retain_limit=settings["retain_disk_bytes"])
    ok(f"{vmdk_path}: streamOptimized VMDK, {len(source)} bytes, capacity {source_info.capacity} bytes")

    s3.create_bucket(Bucket=bucket)
    s3.upload_file(vmdk_path, bucket, key)
    size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    if size != len(source):
        fail(f"uploaded size {size} != {len(source)}")
    ok(f"uploaded to s3://{bucket}/{key} ({size} bytes) at {sandbox.endpoint_url}")

    role_arn = sandbox.create_vmimport_role()
    ok(f"service role present: {role_arn}")

    started = sandbox.now()
    task = ec2.import_image(
        Description=f"selfcheck {suffix}",
        DiskContainers=[{"Format": "VMDK", "UserBucket": {"S3Bucket": bucket, "S3Key": key}}],
        ClientToken=f"selfcheck-{suffix}",
        TagSpecifications=[{"ResourceType": "import-image-task", "Tags": [{"Key": "selfcheck", "Value": suffix}]}],
    )
    task_id = task["ImportTaskId"]
    ok(f"ImportImage accepted: {task_id} ({task['Status']}/{task.get('StatusMessage')})")
    seen: list[str] = []

    def probe_import() -> dict[str, Any]:
        t = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"][0]
        label = t["Status"] if t["Status"] != "active" else t.get("StatusMessage", "")
        if not seen or seen[-1] != label:
            seen.append(label)
        return t

    final = _wait(sandbox, fast, probe_import, lambda t: t["Status"] in ("completed", "deleted"),
                  budget=settings["import_duration"] + settings["cleanup_duration"] + 30, step=5)
    if final["Status"] != "completed":
        fail(f"import ended {final['Status']}: {final.get('StatusMessage')} (stages: {' -> '.join(seen)})")
    image_id = final["ImageId"]
    ok(f"import completed in {sandbox.now() - started:.0f} sandbox s: {' -> '.join(seen)}; ImageId {image_id}")

    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    ok(f"DescribeImages: {image_id} state={image['State']} name={image.get('Name')}")

    instance_id = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro")[
        "Instances"
    ][0]["InstanceId"]
    ok(f"RunInstances from the imported AMI: {instance_id}")

    s3.create_bucket(Bucket=export_bucket, ObjectOwnership="BucketOwnerPreferred")
    # VM Export writes as its own account: the bucket must grant it WRITE and READ_ACP
    grantee = {"Type": "CanonicalUser", "ID": export_canonical_id(sandbox.region)}
    owner = s3.get_bucket_acl(Bucket=export_bucket)["Owner"]
    s3.put_bucket_acl(Bucket=export_bucket, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": grantee, "Permission": "WRITE"}, {"Grantee": grantee, "Permission": "READ_ACP"}]})
    export = ec2.create_instance_export_task(
        InstanceId=instance_id,
        TargetEnvironment="vmware",
        ExportToS3Task={"DiskImageFormat": "VMDK", "ContainerFormat": "ova", "S3Bucket": export_bucket,
                        "S3Prefix": "exports/"},
        Description=f"selfcheck {suffix}",
    )["ExportTask"]
    export_id, export_key = export["ExportTaskId"], export["ExportToS3Task"]["S3Key"]
    ok(f"CreateInstanceExportTask accepted: {export_id} -> s3://{export_bucket}/{export_key}")
    done = _wait(
        sandbox, fast,
        lambda: ec2.describe_export_tasks(ExportTaskIds=[export_id])["ExportTasks"][0],
        lambda t: t["State"] in ("completed", "cancelled"),
        budget=settings["export_duration"] + settings["cleanup_duration"] + 30, step=5,
    )
    if done["State"] != "completed":
        fail(f"export ended {done['State']}: {done.get('StatusMessage')}")
    ova = s3.get_object(Bucket=export_bucket, Key=export_key)["Body"].read()
    ok(f"export completed; OVA is {len(ova)} bytes")

    with tarfile.open(fileobj=io.BytesIO(ova), mode="r:") as tar:
        names = tar.getnames()
        if not names or not names[0].endswith(".ovf"):
            fail(f"OVA members {names}: the .ovf descriptor must come first")
        root = ET.fromstring(tar.extractfile(names[0]).read())  # type: ignore[union-attr]
        disks = [n for n in names if n.endswith(".vmdk")]
        if not disks:
            fail(f"OVA members {names}: no .vmdk disk")
        vmdk = tar.extractfile(disks[0]).read()  # type: ignore[union-attr]
    ok(f"OVA members: {', '.join(names)}; OVF root <{root.tag.split('}')[-1]}> parses")
    if not diskfmt.is_stream_optimized(vmdk):
        fail("the exported VMDK is not streamOptimized")
    exported_info = diskfmt.inspect_vmdk(vmdk, retain_limit=settings["retain_disk_bytes"])
    ok(f"exported VMDK is streamOptimized, capacity {exported_info.capacity} bytes")
    if source_info.grains is not None:
        if exported_info.grains == source_info.grains and exported_info.capacity == source_info.capacity:
            ok("exported disk data is identical to the imported disk")
        else:
            fail("exported disk data differs from the imported disk")

    if not keep:
        ec2.terminate_instances(InstanceIds=[instance_id])
        ec2.deregister_image(ImageId=image_id)
        for b, k in ((bucket, key), (export_bucket, export_key)):
            s3.delete_object(Bucket=b, Key=k)
            s3.delete_bucket(Bucket=b)
        ok("cleaned up")
    return lines


if __name__ == "__main__":  # python -m sandbox.aws.selfcheck [VMDK] (in-process sandbox)
    import sys
    import tempfile

    from .server import start_aws

    path = sys.argv[1] if len(sys.argv) > 1 else None
    with start_aws(speed=0) as sb:
        if path is None:
            tmp = tempfile.NamedTemporaryFile(suffix=".vmdk", delete=False)
            tmp.write(diskfmt.make_stream_optimized_vmdk(1 << 30, diskfmt.sample_disk_data("selfcheck")))
            tmp.close()
            path = tmp.name
        print("\n".join(run(sb, path)))
