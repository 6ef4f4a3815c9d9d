"""A worker that dies at any point is replaced without a second AWS export task: the intent token saved with the
row before CreateInstanceExportTask finds the task again; a lost lease fences the old worker's writes."""

import pytest
from django.urls import reverse
from django.utils import timezone

from exports.choices import CONTAINER_FORMAT, DISK_IMAGE_FORMAT, INTENT_TAG, TARGET_ENVIRONMENT, ExportState
from exports.models import ExportTask
from exports.pipeline import aws_task_name
from core.peers import aws_credentials
from adapters.aws import client as aws
from tests.exports.conftest import drive, s3_keys
from tests.jobs_engine.drive import LeaseLost, checkpoint, export_reconcile, lease_claim

pytestmark = pytest.mark.aws


def _start(ex, api):
    response = api.as_user(ex.admin).post(reverse("api:export-list"), {"instance": ex.instance.pk,
                                                                       "s3_prefix": "vms/"}, format="json")
    assert response.status_code == 201, response.content
    return ExportTask.objects.get(pk=response.json()["id"])


def _crash_after_create(ex, task):
    """What a worker killed between CreateInstanceExportTask and saving its id leaves: the AWS task, created with
    the row's intent token, and a row that does not know it."""
    created = aws.instance_export_start(
        aws_credentials(task.tenant), task.region.code, instance_id=task.ec2_instance_id, bucket=task.s3_bucket,
        prefix=task.s3_prefix, target_environment=TARGET_ENVIRONMENT, disk_image_format=DISK_IMAGE_FORMAT,
        container_format=CONTAINER_FORMAT, description=aws_task_name(task),
        tags={INTENT_TAG: task.intent_token, "portal-export": str(task.pk)})
    assert ExportTask.objects.get(pk=task.pk).export_task_id == ""
    return created.task_id


def _aws_tasks(ex):
    return ex.aws.client("ec2").describe_export_tasks()["ExportTasks"]


def test_crash_between_create_and_save_resumes_without_a_second_task(ex, api):
    task = _start(ex, api)
    created = _crash_after_create(ex, task)
    assert drive(task.pk) == ["again"]
    task.refresh_from_db()
    assert task.export_task_id == created
    assert [t["ExportTaskId"] for t in _aws_tasks(ex)] == [created]
    assert drive(task.pk, ex.aws, seconds=61) == ["done"]
    task.refresh_from_db()
    assert task.state == ExportState.COMPLETED and task.size_bytes
    assert [t["ExportTaskId"] for t in _aws_tasks(ex)] == [created]


def test_cancel_after_such_a_crash_still_cancels_the_aws_task(ex, api):
    task = _start(ex, api)
    created = _crash_after_create(ex, task)
    api.as_user(ex.admin).post(reverse("api:export-cancel", args=[task.pk]), {"confirm": True}, format="json")
    drive(task.pk)
    drive(task.pk, ex.aws, seconds=6)
    task.refresh_from_db()
    assert task.state == ExportState.CANCELLED and task.export_task_id == created
    assert [(t["ExportTaskId"], t["State"]) for t in _aws_tasks(ex)] == [(created, "cancelled")]
    assert s3_keys(ex.aws, ex.bucket) == ([], [])


def test_a_dead_workers_export_is_restarted_by_the_reconciler(ex, api, settings):
    task = _start(ex, api)
    drive(task.pk)  # the AWS task exists and its id is saved
    # A worker claims the lease, then dies: nothing renews it.
    assert lease_claim(of="export", task_id=task.pk, owner="dead-worker", ttl_seconds=60) is not None
    assert drive(task.pk) == ["busy"]
    assert export_reconcile()["restarted"] == []  # its lease is still live
    past = timezone.now() - timezone.timedelta(seconds=settings.EXPORT_LEASE_SECONDS * 3)
    ExportTask.objects.filter(pk=task.pk).update(lease_expires_at=past, heartbeat_at=past)
    assert export_reconcile()["restarted"] == [task.pk]
    assert drive(task.pk, ex.aws, seconds=61) == ["done"]
    task.refresh_from_db()
    assert task.state == ExportState.COMPLETED
    assert len(_aws_tasks(ex)) == 1


def test_a_worker_that_lost_its_lease_cannot_write(ex, api):
    task = _start(ex, api)
    old = lease_claim(of="export", task_id=task.pk, owner="slow-worker", ttl_seconds=60)
    ExportTask.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timezone.timedelta(seconds=1))
    new = lease_claim(of="export", task_id=task.pk, owner="new-worker", ttl_seconds=60)
    assert new == old + 1
    with pytest.raises(LeaseLost):
        checkpoint(of="export", task_id=task.pk, epoch=old, export_task_id="export-i-0000000000000000")
    assert ExportTask.objects.get(pk=task.pk).export_task_id == ""


def test_the_reconciler_admits_queued_exports_when_slots_are_free(ex, api, settings):
    task = _start(ex, api)
    ExportTask.objects.filter(pk=task.pk).update(state=ExportState.QUEUED)  # stuck: admitted by nobody
    assert export_reconcile()["admitted"] == [task.pk]
    assert ExportTask.objects.get(pk=task.pk).state == ExportState.EXPORTING


def test_an_administrator_demoted_mid_export_stops_it(ex, api):
    from core.models import User

    task = _start(ex, api)
    drive(task.pk)
    User.objects.filter(pk=ex.admin.pk).update(role="user")
    assert drive(task.pk) == ["failed"]
    task.refresh_from_db()
    assert task.state == ExportState.FAILED and task.error_code == "authz_revoked"
    assert [t["State"] for t in _aws_tasks(ex)] == ["cancelling"]
