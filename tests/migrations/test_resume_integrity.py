"""A resumed upload keeps a part S3 holds only when its bytes equal what the disk gives now (CRC32 per part, as S3
checked and lists it), not merely its size: when the disk changed while the job was down, the disk's upload
starts again from zero and the status says why. Over HTTPS, as the tenant's connector agent sends the disks to S3
in production (the agent process is killed -9 while the job is "down")."""

import hashlib
import json
import time

import pytest
from django.conf import settings
from pyVmomi import vim

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from tests.migrations import test_agent_path as agent_path
from tests.migrations.conftest import assert_no_leftovers, vcenter_session
from tests.migrations.helpers import Worker, wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.process]

registered_agent = agent_path.registered_agent  # the tenant's agent as its own process (kill -9 reaches it)

MIB = 1024 * 1024


def export_now(vcenter, vm_name) -> bytes:
    """The VM's (single) disk stream as vCenter exports it now, through a lease of our own."""
    with vcenter_session(vcenter) as vc:
        moref = next(vm.moref for vm in vc.list_vms() if vm.name == vm_name)
        lease = vc.lease_wait_ready(vc.export_start(moref), timeout=60)
        device, = (d for d in lease.devices if d.disk)
        stream, chunks = vc.open_disk(device, vm_name), []
        try:
            while chunk := stream.read(MIB):
                chunks.append(chunk)
        finally:
            stream.close()
        vc.lease_complete(lease.moref)
    return b"".join(chunks)


def extend_disk(vcenter, vm_name, kib):
    """Grow (or, with a negative `kib`, shrink back) the VM's disk, as an administrator would while it is off:
    the export stream changes from its first bytes on (the header names the capacity)."""
    si = vcenter.connect()
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    vm = next(v for v in view.view if v.name == vm_name)
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    disk.capacityInKB += kib
    disk.capacityInBytes = disk.capacityInKB * 1024
    task = vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[
        vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=disk)]))
    while task.info.state not in ("success", "error"):
        time.sleep(0.1)
    assert task.info.state == "success", task.info.error


@pytest.mark.parametrize("in_process_agent", [False])  # the agent here is its own process, killed -9
def test_a_disk_changed_while_the_job_was_down_restarts_from_zero(setup, aws_https, registered_agent,
                                                                    start_migration, in_process_agent):
    s = setup
    s.aws = aws_https  # S3 over TLS, trusting the sandbox's CA only
    part = settings.MIGRATION_PART_SIZE
    _, config = registered_agent
    saved = json.loads(config.read_text())
    saved["s3_ca_bundle"] = settings.AWS_CA_BUNDLE  # the agent sends the parts; the portal's workers convert
    config.write_text(json.dumps(saved))
    s.vcenter.set_faults(nfc_bytes_per_second=2 * MIB)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    agent = agent_path.RunningAgent(config)
    try:
        # Counted in S3: the agent reports its progress only every few seconds, by when the disk may be whole.
        wait_for(lambda: (t := MigrationTask.objects.get(pk=task_id)).state == MigrationState.UPLOADING
                 and t.disks[0]["upload_id"] and agent_path._parts_in_s3(s, t) >= 2, timeout=90,
                 what="two parts uploaded")
        agent.process.kill()  # SIGKILL: the job's lease simply stops being renewed
    finally:
        agent.stop()
    before = MigrationTask.objects.get(pk=task_id)
    old_upload = before.disks[0]["upload_id"]
    s3 = s.aws.client("s3")
    held = s3.list_parts(Bucket=before.s3_bucket, Key=before.disks[0]["s3_key"], UploadId=old_upload)["Parts"]
    assert len(held) >= 2 and all(p["Size"] == part and p["ChecksumCRC32"] for p in held)

    s.vcenter.abort_leases()  # the dead agent's lease would keep the VM locked until it times out
    old = export_now(s.vcenter, "web01")
    extend_disk(s.vcenter, "web01", 1024)
    try:
        new = export_now(s.vcenter, "web01")
        # What S3 holds plus the rest of the new stream: same part sizes, so a size check would accept it
        splice = old[:len(held) * part] + new[len(held) * part:]
        assert splice != new and len(old) >= len(held) * part

        # The dead agent's job lease runs out and the job is the tenant's agent's to take again.
        agent = agent_path.RunningAgent(config)
        worker = Worker(AWS_CA_BUNDLE=settings.AWS_CA_BUNDLE)
        try:
            restarting = wait_for(lambda: "restarted from the beginning" in (t := MigrationTask.objects.get(
                pk=task_id)).status_message and t, timeout=90, what="the status to say the disk restarted")
            assert "changed since the interrupted attempt" in restarting.status_message
            s.vcenter.clear_faults()
            task = wait_for(lambda: (t := MigrationTask.objects.get(pk=task_id)).state != MigrationState.UPLOADING
                            and t, timeout=120, what="the upload to finish")
            assert task.state == MigrationState.CONVERTING, task.status_message  # the AWS clock is frozen
            disk, = task.disks
            assert disk["upload_id"] != old_upload and disk["parts_resumed"] == 0
            assert "changed since the interrupted attempt" in disk["restarted"]
            # planned and measured against the disk as it is now
            assert disk["size"] == task.bytes_total == task.bytes_uploaded == 17 * MIB
            uploads = s3.list_multipart_uploads(Bucket=task.s3_bucket).get("Uploads", [])
            assert old_upload not in [u["UploadId"] for u in uploads]  # aborted, not left behind
            staged = s3.get_object(Bucket=task.s3_bucket, Key=disk["s3_key"])["Body"].read()
            assert hashlib.sha256(staged).digest() == hashlib.sha256(new).digest()
            assert staged != splice
            s.aws.set_speed(500)
            task = wait_for(lambda: (t := MigrationTask.objects.get(pk=task_id)).is_terminal and t, timeout=120,
                            what="the job to finish")
        finally:
            worker.stop()
            agent.stop()
        assert task.state == MigrationState.COMPLETED, task.status_message
        assert_no_leftovers(s, task)
    finally:
        s.vcenter.abort_leases()
        extend_disk(s.vcenter, "web01", -1024)  # the session's simulator serves the next tests
