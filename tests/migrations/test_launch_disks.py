"""The launched instance carries every disk of the VM, each on a volume of its own at least the disk's size, and
its volumes carry the migration's tags; an instance that lacks a disk fails the migration, which then releases the
instance and its image like any failure."""

import pytest

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from migrations_app.pipeline import GIB, every_disk_has_a_volume
from tests.migrations.conftest import assert_no_leftovers
from tests.migrations.helpers import drive


def _drive(task_id):
    drive(task_id, limit=30)
    return MigrationTask.objects.get(pk=task_id)


def _volumes(s, instance_id):
    ec2 = s.aws.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    ids = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if "Ebs" in m]
    return ec2.describe_volumes(VolumeIds=ids)["Volumes"]


@pytest.mark.parametrize("capacities, volumes, fits", [
    ([16 * 2**20, 64 * 2**20], [1, 1], True),
    ([16 * 2**20, 64 * 2**20], [1], False),          # the data disk is gone
    ([10 * GIB, 2 * GIB], [2, 10], True),              # in any order
    ([10 * GIB, 2 * GIB], [2, 2], False),              # no volume is big enough for the big disk
    ([10 * GIB, 2 * GIB], [10], False),                # two disks cannot share one volume
    ([10 * GIB + 1, 2 * GIB], [10, 11], True),         # a disk of a part GiB needs the next whole GiB
    ([10 * GIB + 1], [10], False),
    ([0, 3 * GIB], [3, 1], True),                      # an unknown capacity takes any volume
    ([GIB], [], False),
    ([GIB], [1, 8], True),                             # a volume more (a swap disk added at launch) is fine
])
def test_every_disk_has_a_volume(capacities, volumes, fits):
    assert every_disk_has_a_volume(capacities, volumes) is fits


@pytest.mark.aws
@pytest.mark.vcenter
def test_a_multi_disk_vm_lands_with_every_disk_on_tagged_volumes(setup, start_migration):
    s = setup
    s.aws.set_speed(500)
    task = _drive(start_migration(s, s.alice, "db01").json()["id"])
    assert task.state == MigrationState.COMPLETED, task.status_message
    volumes = _volumes(s, task.instance_id)
    assert len(volumes) == len(task.disks) == 2
    for volume in volumes:
        tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
        assert tags.get("portal-migration") == str(task.pk) and tags.get("portal-tenant") == task.tenant.slug, tags
    assert_no_leftovers(s, task)


@pytest.mark.aws
@pytest.mark.vcenter
def test_an_instance_missing_a_disk_fails_the_migration_and_is_released(setup, start_migration):
    s = setup
    s.aws.set_speed(500)
    s.aws.set_faults(import_root_only_count=1)  # the AMI maps the root disk only
    try:
        task = _drive(start_migration(s, s.alice, "db01").json()["id"])
        assert s.aws.faults()["import_root_only_count"] == 0, "the fault never fired"
    finally:
        s.aws.clear_faults()
    assert task.state == MigrationState.FAILED, task.status_message
    assert task.error_code == "instance_disks_missing"
    assert "lacks a disk of the VM: it has 1 volume(s) (1 GiB) for the VM's 2 disk(s)" in task.status_message, \
        task.status_message
    assert not task.environment.instances.filter(instance_id=task.instance_id).exists()
    assert_no_leftovers(s, task)  # the instance is terminated and the image with its snapshots is gone
