"""A migration from the sandbox vCenter to the sandbox AWS, over HTTP, driven tick by tick in this process."""

import boto3
import pytest
from django.urls import reverse

from environments.models import ImportedInstance
from migrations_app.models import MigrationTask
from core.models import AuditLog
from tests.migrations.helpers import drive

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def test_happy_path_two_disks(setup, start_migration, api):
    s = setup
    s.aws.set_speed(200)
    response = start_migration(s, s.alice, "db01")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "exporting" and body["queue_position"] is None
    drive(body["id"])
    task = MigrationTask.objects.get(pk=body["id"])
    assert task.state == "completed", task.status_message
    assert task.bytes_uploaded == task.bytes_total == task.bytes_exported > 32 * 1024 * 1024
    assert task.conversion_progress == 100 and task.import_task_id.startswith("import-ami-")
    ec2 = boto3.client("ec2", **s.aws.boto3_kwargs())
    instance = ec2.describe_instances(InstanceIds=[task.instance_id])["Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "stopped"
    assert instance["SubnetId"] == s.subnet.subnet_id and instance["ImageId"] == task.image_id
    imported = ImportedInstance.objects.get(instance_id=task.instance_id)
    assert imported.environment == s.environment and imported.source_vm_name == "db01"
    s3 = boto3.client("s3", **s.aws.boto3_kwargs())
    assert s3.list_objects_v2(Bucket=task.s3_bucket).get("KeyCount", 0) == 0  # staged disks removed
    assert not s3.list_multipart_uploads(Bucket=task.s3_bucket).get("Uploads")
    assert [lease["state"] for lease in s.vcenter.leases()] == ["done"]
    states = list(AuditLog.objects.filter(object_type="migrations_app.MigrationTask", object_id=str(task.pk)).values_list(
        "action", flat=True).order_by("id"))
    assert states == ["migration.create", "migration.exporting", "migration.uploading", "migration.converting",
                      "migration.launching", "migration.completed"]
    detail = api.as_user(s.alice).get(reverse("api:migration-detail", kwargs={"pk": task.pk})).json()
    assert detail["instance_id"] == task.instance_id and detail["upload_percent"] == 100


def test_happy_path_over_https_with_the_disks_from_the_esx_host(setup, start_migration, monkeypatch):
    """As with a real vCenter: SOAP to vCenter pinned to its thumbprint, the disks from the ESX host that holds the
    VM, by the name the lease gives (resolved by the test's resolver), pinned to the host's own thumbprint."""
    from core.models import TenantVCenter
    from tests.security.peers import FakeDns

    s = setup
    s.aws.set_speed(200)
    dns = FakeDns(monkeypatch, {name: [[address]] for name, address in s.vcenter.esx_addresses().items()})
    TenantVCenter.objects.filter(tenant=s.tenant).update(url=s.vcenter.https_url, thumbprint=s.vcenter.thumbprint)
    # The connector's account is entered for that URL (it refuses to send it to any other).
    s.agent.settings.vcenter = {**s.agent.settings.vcenter, "url": s.vcenter.https_url}
    response = start_migration(s, s.alice, "web01")
    assert response.status_code == 201, response.content
    drive(response.json()["id"])
    task = MigrationTask.objects.get(pk=response.json()["id"])
    assert task.state == "completed", task.status_message
    [lease] = s.vcenter.leases()
    host = next(name for name in s.vcenter.esx_hosts if dns.count(name))
    assert lease["state"] == "done" and lease["served_by"] == host and lease["downloads"] >= 1
    assert task.disks[0]["stream_bytes"] == lease["disks"][0]["stream_bytes"]  # all of it, without a length
