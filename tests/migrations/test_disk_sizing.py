"""Disk sizing as on a real vCenter: the lease gives no stream length (fileSize unset), so parts are planned from
the disks' capacity and progress is measured against it; a disk that would need more than S3's 10,000 parts at
the configured part size still goes up in at most 10,000."""

import hashlib

import pytest

from migrations_app.choices import MigrationState
from connector.datapath import S3_MAX_PARTS, PartPlan
from migrations_app.models import MigrationTask
from tests.jobs_engine.drive import run_tick
from tests.migrations.conftest import vcenter_session

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]

KIB = 1024


@pytest.fixture
def tiny_parts(setup, settings):
    """1 KiB parts, below S3's 5 MiB minimum: allowed only through settings (and the sandbox S3) in tests."""
    settings.MIGRATION_PART_SIZE = KIB
    settings.MIGRATION_S3_MIN_PART_SIZE = KIB
    previous = setup.aws.set_s3_min_part_size(KIB)
    yield settings
    setup.aws.set_s3_min_part_size(previous)


def fresh_export(vcenter, vm_name):
    """The disk streams of `vm_name` as vCenter exports them now, read by a lease of our own: (sha256, length)."""
    with vcenter_session(vcenter) as vc:
        moref = next(vm.moref for vm in vc.list_vms() if vm.name == vm_name)
        lease = vc.lease_wait_ready(vc.export_start(moref), timeout=60)
        streams = []
        for device in (d for d in lease.devices if d.disk):
            stream, digest, length = vc.open_disk(device, vm_name), hashlib.sha256(), 0
            try:
                while chunk := stream.read(1024 * 1024):
                    digest.update(chunk)
                    length += len(chunk)
            finally:
                stream.close()
            streams.append((digest.hexdigest(), length))
        vc.lease_complete(lease.moref)
    return streams


def drive_until(task_id, states, limit=200):
    for _ in range(limit):
        run_tick(task_id)
        task = MigrationTask.objects.get(pk=task_id)
        if task.state in states or task.is_terminal:
            return task
    raise AssertionError(f"migration {task_id} stayed in {task.state}")


def test_the_lease_has_capacities_but_no_stream_length(setup):
    with vcenter_session(setup.vcenter) as vc:
        lease = vc.lease_wait_ready(vc.export_start(setup.vms["db01"].moref), timeout=60)
        vc.lease_abort(lease.moref)
    disks = [d for d in lease.devices if d.disk]
    assert [d.file_size for d in disks] == [0, 0]  # as vCenter: fileSize is for non-disk files only
    assert [d.capacity_bytes for d in disks] == [16 * 1024 * KIB, 41000 * KIB]
    assert lease.total_capacity_bytes == sum(d.capacity_bytes for d in disks)


def test_a_disk_needing_more_than_10000_parts_at_the_configured_size_goes_up_in_fewer(setup, start_migration,
                                                                                      tiny_parts):
    s = setup
    tiny_parts.MIGRATION_TICK_BUDGET_SECONDS = 1  # give control back once the import runs (the AWS clock is frozen)
    expected = fresh_export(s.vcenter, "web01")
    (digest, length), = expected
    assert length // KIB > S3_MAX_PARTS  # 1 KiB parts would be too many
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    task = drive_until(task_id, {MigrationState.CONVERTING})
    assert task.state == MigrationState.CONVERTING, task.status_message
    capacity = s.vms["web01"].disks[0].capacity_bytes
    disk, = task.disks
    assert disk["size"] == capacity and disk["stream_bytes"] == length != capacity
    # progress counts against the capacity, and a finished disk is 100 %
    assert task.bytes_total == task.bytes_exported == task.bytes_uploaded == capacity

    s3 = s.aws.client("s3")
    head = s3.head_object(Bucket=task.s3_bucket, Key=disk["s3_key"])
    parts = int(head["ETag"].strip('"').rsplit("-", 1)[1])  # a multipart object's ETag ends in its part count
    plan = PartPlan.from_dict(disk["part_plan"])
    assert KIB < plan.base and parts == -(-length // plan.base) <= S3_MAX_PARTS
    body = s3.get_object(Bucket=task.s3_bucket, Key=disk["s3_key"])["Body"].read()
    assert (hashlib.sha256(body).hexdigest(), len(body)) == (digest, length)

    s.aws.set_speed(500)
    tiny_parts.MIGRATION_TICK_BUDGET_SECONDS = 60
    task = drive_until(task_id, set())
    assert task.state == MigrationState.COMPLETED, task.status_message
